"""The suite's own guard: a test that logs a warning it did not declare fails."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = 'pytest_plugins = ["tests.helpers"]\n'


# The inner run logs in this process, so the outer test sees its records too.
@pytest.mark.expect_log(r"nearly full", r"export failed")
def test_an_undeclared_warning_fails_the_test_and_a_declared_one_does_not(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner='''
import logging
import pytest

log = logging.getLogger("gisttracker.somewhere")


def test_quiet():
    log.info("an ordinary event")


def test_warns_unannounced():
    log.warning("the disk is nearly full")


@pytest.mark.expect_log(r"nearly full")
def test_warns_as_declared():
    log.warning("the disk is nearly full")


@pytest.mark.expect_log(r"nearly full")
def test_warns_something_else_too():
    log.warning("the disk is nearly full")
    logging.getLogger("ui.calendar").error("export failed")
''')
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*WARNING gisttracker.somewhere: the disk is nearly full*",
                                 "*ERROR ui.calendar: export failed*"])
