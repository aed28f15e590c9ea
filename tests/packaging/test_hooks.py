"""Our PyInstaller hooks (``packaging/hooks``), checked without building a bundle."""

from __future__ import annotations

import importlib.util
import runpy

from tests.packaging.helpers import ROOT


def test_the_tomli_hook_names_the_compiled_parsers_runtime_module() -> None:
    # Without it the bundle's `import tomli` fails on the mypyc runtime module (imported from
    # C, unseen by PyInstaller) and the protocol loader silently falls back to tomllib: seen
    # by building a one-line probe with and without the hook.
    hidden = runpy.run_path(str(ROOT / "packaging" / "hooks" / "hook-tomli.py"))["hiddenimports"]
    assert len(hidden) == 1 and hidden[0].endswith("__mypyc")
    assert importlib.util.find_spec(hidden[0]) is not None  # a module that really exists
