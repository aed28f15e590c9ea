"""Reports in Simplified Chinese: every Chinese character is set in the CJK font (body,
tables, headers, footers), the text is Chinese, and dates stay ISO."""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import BytesIO

import pytest
from pypdf import PdfReader

from gisttracker import i18n
from gisttracker.demo import generate
from gisttracker.reports import ReportRequest, build
from gisttracker.reports.fonts import _CJK, fonts
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from tests.core.reports_fixtures import MADE, TODAY

pytestmark = pytest.mark.skipif(not fonts().has_cjk, reason="needs fonts-wqy-zenhei "
                                "(scripts/setup installs it)")


@pytest.fixture
def chinese_site(session: Session) -> Iterator[Session]:
    i18n.install("zh_CN")
    generate(session, patients=60, seed=5, today=TODAY)
    yield session
    i18n.install(None)


def _runs(data: bytes) -> list[tuple[str, str]]:
    """(font, text) of every text run of every page."""
    runs: list[tuple[str, str]] = []

    def visit(text: str, _cm: object, _tm: object, font: dict[str, object] | None,
              _size: object) -> None:
        if text.strip():
            runs.append((str(font.get("/BaseFont") if font else None), text))

    for page in PdfReader(BytesIO(data)).pages:
        page.extract_text(visitor_text=visit)
    return runs


@pytest.mark.parametrize("kind", ["schedule", "casebook", "screening", "enrollment",
                                  "calendar"])
def test_chinese_reports_set_every_chinese_character_in_the_cjk_font(
        chinese_site: Session, kind: str) -> None:
    patient = Patient.select().where((Patient.study_key == "NCT04933669")
                                     & (Patient.status == "enrolled")).first()
    request = ReportRequest(kind, patient=patient.study_id, study_key="NCT04933669",
                            start=TODAY.replace(day=1), end=TODAY.replace(day=28))
    report = build(chinese_site, request, today=TODAY, generated_at=MADE)
    runs = _runs(report.render())
    text = "".join(t for _f, t in runs)
    wrong = [(f, t) for f, t in runs if _CJK.search(t) and "WenQuanYi" not in f]
    assert not wrong, f"Chinese set in a Latin font (shows as boxes): {wrong[:5]}"
    flat = text.replace("\n", "")
    assert "生成于 2026-03-14 09:30 UTC · GIST 研究管理系统" in flat  # the footer
    assert re.search(r"第 1 页，共 \d+ 页", flat)
    title = {"schedule": "患者访视计划", "casebook": "患者病例报告表",
             "screening": "筛选日志与 CONSORT 流程图", "enrollment": "入组与招募进度",
             "calendar": "中心访视日历"}[kind]
    assert flat.startswith(title)  # the page header
    if kind == "screening":
        # The CONSORT diagram is drawn, not typeset: a missing glyph would just vanish.
        assert "评估合格性（n = " in flat and "入组（n = " in flat
    if kind == "enrollment":
        assert "累计入组" in flat and "目标（" in flat  # the chart's legend, drawn too
    assert not re.search(r"\d{1,2}/\d{1,2}/\d{4}|\d{4}年", flat)  # dates stay ISO
