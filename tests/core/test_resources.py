"""Where the data files are found: in a checkout, in an installed copy, and the report fonts;
and a program that finds no study refuses to open a site."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gisttracker import resources
from gisttracker.cli import main
from gisttracker.reports import fonts as report_fonts
from gisttracker.session import NoStudiesError, open_session

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_reads_the_repository_folders() -> None:
    # Development edits seeds/ and resources/ in place; nothing is copied.
    assert resources.seeds_dir() == ROOT / "seeds"
    assert resources.resources_dir() == ROOT / "resources"
    assert not resources.is_installed_copy()
    assert len(list(resources.seeds_dir().glob("*.toml"))) == 5
    assert resources.icon_path().is_file()
    licences = {p.name for p in resources.fonts_dir().glob("*.txt")}
    assert {"DejaVu-LICENSE.txt", "WenQuanYi-Zen-Hei-LICENSE.txt", "GPL-2.txt"} <= licences


def test_an_installed_copy_reads_the_data_inside_the_package(tmp_path: Path) -> None:
    # The layout a wheel or a bundle has: gisttracker/_data/{seeds,resources} in the package.
    site = tmp_path / "site"
    package = site / "gisttracker"
    package.mkdir(parents=True)
    shutil.copy(ROOT / "gisttracker" / "__init__.py", package)
    shutil.copy(ROOT / "gisttracker" / "resources.py", package)
    (package / "_data" / "seeds").mkdir(parents=True)
    (package / "_data" / "resources" / "icons").mkdir(parents=True)
    script = ("from gisttracker import resources as r; "
              "print(r.seeds_dir()); print(r.icon_path()); print(r.is_installed_copy())")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, check=True, env={"PYTHONPATH": str(site)})
    seeds, icon, installed = result.stdout.split("\n")[:3]
    assert Path(seeds) == package / "_data" / "seeds"
    assert Path(icon) == package / "_data" / "resources" / "icons" / "gisttracker.svg"
    assert installed == "True"


@pytest.mark.parametrize(("platform", "environ", "expected"), [
    ("win32", {"WINDIR": r"D:\Win", "LOCALAPPDATA": r"C:\Users\nurse\AppData\Local"},
     [Path(r"D:\Win") / "Fonts",
      Path(r"C:\Users\nurse\AppData\Local") / "Microsoft" / "Windows" / "Fonts"]),
    ("win32", {}, [Path(r"C:\Windows") / "Fonts"]),
    ("darwin", {}, [Path("/Library/Fonts"), Path("/System/Library/Fonts"),
                    Path("/home/nurse/Library/Fonts")]),
])
def test_font_folders_of_windows_and_macos(platform: str, environ: dict[str, str],
                                           expected: list[Path]) -> None:
    assert list(report_fonts.system_font_dirs(platform, environ, Path("/home/nurse"))) == expected


def test_linux_font_folders_include_the_users_own() -> None:
    folders = report_fonts.system_font_dirs("linux", {}, Path("/home/nurse"))
    assert folders[0] == Path("/usr/share/fonts/truetype")
    assert Path("/home/nurse/.local/share/fonts") in folders


def test_shipped_fonts_are_found_before_the_systems(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shipped, system = tmp_path / "shipped", tmp_path / "system" / "dejavu"
    shipped.mkdir()
    system.mkdir(parents=True)
    (system / "DejaVuSans.ttf").write_bytes(b"system")
    monkeypatch.setattr(report_fonts, "RESOURCE_FONTS", shipped)
    monkeypatch.setattr(report_fonts, "SYSTEM_FONTS", (tmp_path / "system",))
    assert report_fonts._find("DejaVuSans.ttf") == system / "DejaVuSans.ttf"
    (shipped / "DejaVuSans.ttf").write_bytes(b"shipped")
    assert report_fonts._find("DejaVuSans.ttf") == shipped / "DejaVuSans.ttf"


# ----- no study at all: say so, create nothing ------------------------------------------------
@pytest.fixture
def no_shipped_studies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A damaged installation: its protocol folder is empty."""
    empty = tmp_path / "seeds"
    empty.mkdir()
    monkeypatch.setattr("gisttracker.protocols.files.SEEDS_DIR", empty)
    return empty


def test_the_command_line_refuses_to_open_a_site_with_no_study(
        no_shipped_studies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "site" / "site.db"
    assert main(["--db", str(db), "studies"]) == 1
    err = capsys.readouterr().err
    assert "no study protocol could be loaded" in err
    assert str(no_shipped_studies) in err  # says where it looked
    assert not db.exists()  # and created no empty site


def test_broken_protocol_files_are_named_when_none_loads(no_shipped_studies: Path,
                                                         tmp_path: Path) -> None:
    (no_shipped_studies / "broken.toml").write_text("key = [unclosed\n", encoding="utf-8")
    with pytest.raises(NoStudiesError, match=r"broken\.toml"):
        open_session(tmp_path / "site.db")
    assert not (tmp_path / "site.db").exists()


@pytest.mark.sqlite_only(
    "a site folder with its file and protocols beside it (a server site's protocol "
    "folder: test_site_protocols)")
def test_a_site_protocol_alone_is_enough(no_shipped_studies: Path, tmp_path: Path) -> None:
    # A site that replaced every protocol with its own copy is a working site.
    site = tmp_path / "site"
    (site / "protocols").mkdir(parents=True)
    shutil.copy(ROOT / "seeds" / "nct04933669_neoadjuvant.toml", site / "protocols")
    session = open_session(site / "site.db")
    try:
        assert list(session.studies) == ["NCT04933669"]
    finally:
        session.close()
