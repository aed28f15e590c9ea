"""The Linux bundle, as CI builds it and a user unpacks it: ``packaging/build.py linux`` makes
the tarball; it is unpacked elsewhere and its program run from there, with no Python
environment of ours around it. Prints the build time, the size and the start times."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfReader

from gisttracker import __version__
from tests.packaging.helpers import ROOT, STUDY_KEYS, run, user_environment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="CI builds the Linux bundle; Windows and macOS build their own"),
]

# The aim is 150 MB, missed: measured 276.8 MB unpacked (tarball 112.4 MB) on 2026-11-30,
# down from 335.3 MB in the morning of that day and 293.5 MB at its noon. What the bundle holds
# (`tests/benchmarks/bench_bundle.py --table`): the statistics the team chose (scipy and
# statsmodels, with numpy, pandas and two OpenBLAS builds: 141 MB, every compiled part of it
# loaded by `import scipy.stats`), Qt and PySide6 (58 MB, only the libraries and plugins a
# desktop window loads, ICU's data trimmed to 4 MB), Python (14 MB), the program with its
# report fonts (16 MB), cryptography, psycopg's binary build for the server mode, lxml,
# reportlab, Pillow (37 MB) and the X11/font/glib libraries (11 MB). packaging/README.md says
# what was left out and why. This bound, 3 % above the measured size, catches a regression
# (a Qt module, a library, a second OpenSSL or ICU's full data dragged in by mistake).
SIZE_LIMIT_MB = 285


@dataclass(frozen=True)
class Bundle:
    folder: Path
    work: Path
    env: dict[str, str]
    build_seconds: float
    tarball_mb: float

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(self.folder / "gisttracker", args, self.work, self.env)


def folder_mb(folder: Path) -> float:
    return sum(p.lstat().st_size for p in folder.rglob("*")
               if p.is_file() or p.is_symlink()) / 1e6


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundle]:
    base = tmp_path_factory.mktemp("bundle")
    started = time.perf_counter()
    built = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "linux",
                            "--distpath", str(base / "dist"), "--workpath", str(base / "build")],
                           capture_output=True, text=True)
    # PyInstaller's own log is long; its last lines say why a build failed.
    assert built.returncode == 0, "\n".join(built.stderr.splitlines()[-40:])
    seconds = time.perf_counter() - started
    tarball = next((base / "dist").glob(f"gisttracker-{__version__}-linux-*.tar.gz"))
    unpacked = base / "opt"
    unpacked.mkdir()
    # Unpacked as a user would, with tar (which also keeps the bundle's symbolic links).
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(unpacked)], check=True)
    tarball_mb = tarball.stat().st_size / 1e6
    # Only the unpacked copy is used; the build's 300 MB need not stay in /tmp.
    shutil.rmtree(base / "dist")
    shutil.rmtree(base / "build")
    work = base / "work"
    work.mkdir()
    yield Bundle(folder=unpacked / f"gisttracker-{__version__}", work=work,
                 env=user_environment(base / "home"), build_seconds=seconds,
                 tarball_mb=tarball_mb)


def timed(bundle: Bundle, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    result = bundle.run(*args)
    return result, time.perf_counter() - started


def test_version_and_its_figures(bundle: Bundle, capsys: pytest.CaptureFixture[str]) -> None:
    result, seconds = timed(bundle, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"gisttracker {__version__}"
    size = folder_mb(bundle.folder)
    with capsys.disabled():
        print(f"\nLinux bundle: built (with tarball) in {bundle.build_seconds:.0f} s, "
              f"{size:.1f} MB unpacked, tarball {bundle.tarball_mb:.1f} MB, "
              f"--version {seconds:.2f} s wall")
    assert size < SIZE_LIMIT_MB


def test_studies_lists_the_five_studies(bundle: Bundle) -> None:
    result = bundle.run("--db", str(bundle.work / "studies.db"), "studies", "--json")
    assert result.returncode == 0, result.stderr
    assert {s["key"] for s in json.loads(result.stdout)} == STUDY_KEYS


def test_demo_then_a_report_with_the_bundled_fonts(bundle: Bundle) -> None:
    db = bundle.work / "demo" / "site.db"
    result = bundle.run("--db", str(db), "demo", "--patients", "40", "--seed", "2",
                        "--today", "2026-03-01")
    assert result.returncode == 0, result.stderr
    assert "40 patients added" in result.stdout
    pdf = bundle.work / "enrollment.pdf"
    result = bundle.run("--db", str(db), "report", "enrollment", "--study", "NCT04933669",
                        "--today", "2026-03-01", "-o", str(pdf))
    assert result.returncode == 0, result.stderr
    reader = PdfReader(pdf)
    assert "NCT04933669" in "".join(page.extract_text() for page in reader.pages)
    embedded = {str(font["/BaseFont"]) for page in reader.pages
                for font in page["/Resources"]["/Font"].values()}
    assert any("DejaVuSans" in name for name in embedded), embedded
    # The statistics run in the bundle too (numpy's OpenBLAS survives the build's strip).
    result = bundle.run("--db", str(db), "outcomes", "--study", "NCT03862768", "--as-of",
                        "2026-03-01", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [e["key"] for e in data["endpoints"]] == ["pfs", "os"] and data["patients"] > 0
    # ODM export: lxml.etree without the parts of lxml the bundle leaves out.
    odm = bundle.work / "export.xml"
    result = bundle.run("--db", str(db), "export", "odm", "--study", "NCT04933669", "-o",
                        str(odm))
    assert result.returncode == 0, result.stderr
    assert b"<ODM" in odm.read_bytes()[:2000]


def test_cox_models_and_competing_risks_run_in_the_bundle(bundle: Bundle) -> None:
    """A fitted Cox model (statsmodels' PHReg) and a cumulative incidence with a competing
    event (CumIncidenceRight): what leaving out too much of statsmodels, pandas or scipy
    would break. Three years on, the demo's randomized study has events enough."""
    db = bundle.work / "later" / "site.db"
    result = bundle.run("--db", str(db), "demo", "--patients", "150", "--seed", "2",
                        "--today", "2029-03-01")
    assert result.returncode == 0, result.stderr
    result = bundle.run("--db", str(db), "outcomes", "--study", "NCT03862768", "--as-of",
                        "2029-03-01", "--json")
    assert result.returncode == 0, result.stderr
    [pfs] = [e for e in json.loads(result.stdout)["endpoints"] if e["key"] == "pfs"]
    [model] = pfs["cox_univariate"]
    assert model["note"] == "" and model["coefficients"], model
    assert 0 < model["coefficients"][0]["hr"] < 100
    result = bundle.run("--db", str(db), "outcomes", "--study", "RECTAL-LE", "--as-of",
                        "2029-03-01", "--json")
    assert result.returncode == 0, result.stderr
    [local] = [e for e in json.loads(result.stdout)["endpoints"]
               if e["key"] == "local_recurrence"]
    assert local["overall"]["competing"] > 0, local["overall"]
    assert local["overall"]["competing_cumulative_incidence"][0]["estimate"] > 0


def test_argparse_speaks_chinese_in_the_bundle(bundle: Bundle) -> None:
    """The argparse catalogue travels in the bundle and is installed for argparse."""
    db = str(bundle.work / "zh.db")
    result = bundle.run("--db", db, "--language", "zh_CN", "patients", "--no-such-option")
    assert (result.returncode, result.stderr) == (
        2, "gisttracker: 无法识别的参数：--no-such-option\n")
    result = bundle.run("--db", db, "--language", "zh_CN", "report")
    assert result.stderr == "gisttracker report: 缺少以下必需参数：KIND\n"


def test_the_fonts_and_their_licences_travel_in_the_bundle(bundle: Bundle) -> None:
    fonts = bundle.folder / "_internal" / "gisttracker" / "_data" / "resources" / "fonts"
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "wqy-zenhei.ttc",
                 "DejaVu-LICENSE.txt", "WenQuanYi-Zen-Hei-LICENSE.txt", "GPL-2.txt"):
        assert (fonts / name).is_file(), name
    licence = (fonts / "WenQuanYi-Zen-Hei-LICENSE.txt").read_text(encoding="utf-8")
    assert "font embedding exception" in licence.lower()


def test_startup_check_and_its_time(bundle: Bundle, capsys: pytest.CaptureFixture[str]) -> None:
    result, seconds = timed(bundle, "--db", str(bundle.work / "window.db"), "--startup-check")
    assert result.returncode == 0, result.stderr
    to_first_screen = float(result.stdout.strip())
    with capsys.disabled():
        print(f"\nLinux bundle: --startup-check {seconds:.2f} s wall "
              f"({to_first_screen:.3f} s from the start of the process to the first rows painted)")
    assert 0 < to_first_screen < 60


def test_install_script_adds_a_menu_entry_and_uninstall_keeps_the_data(bundle: Bundle) -> None:
    home = Path(bundle.env["HOME"])
    result = run(bundle.folder / "install.sh", [], bundle.work, bundle.env)
    assert result.returncode == 0, result.stderr
    entry = (home / ".local/share/applications/gisttracker.desktop").read_text()
    assert f'Exec="{bundle.folder}/gisttracker"' in entry
    assert (home / ".local/share/icons/hicolor/scalable/apps/gisttracker.svg").is_file()
    command = home / ".local/bin/gisttracker"
    result = run(command, ["--version"], bundle.work, bundle.env)
    assert result.stdout.strip() == f"gisttracker {__version__}"  # through the link

    data = home / ".local/share/gisttracker/site.db"
    assert run(command, ["studies"], bundle.work, bundle.env).returncode == 0  # default db
    assert data.is_file()
    result = run(bundle.folder / "install.sh", ["--uninstall"], bundle.work, bundle.env)
    assert result.returncode == 0, result.stderr
    assert not (home / ".local/share/applications/gisttracker.desktop").exists()
    assert not command.exists()
    assert data.is_file()  # the site's records stay


def test_a_bundle_without_its_protocols_refuses_loudly(bundle: Bundle) -> None:
    seeds = bundle.folder / "_internal" / "gisttracker" / "_data" / "seeds"
    hidden = seeds.with_name("seeds-hidden")
    seeds.rename(hidden)
    try:
        db = bundle.work / "broken" / "site.db"
        result = bundle.run("--db", str(db), "studies")
        assert result.returncode == 1
        assert "no study protocol could be loaded" in result.stderr
        assert not db.exists()
    finally:
        hidden.rename(seeds)
