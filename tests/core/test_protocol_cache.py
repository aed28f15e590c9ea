"""The cache of validated protocol files (issue 17): a start reads a protocol file the code
checked before from the cache, and gets exactly what the checks give; anything else — an
edited file, a damaged, forged, mismatched or foreign entry, other code — is checked again,
and a file the checks refuse is refused whatever the cache holds."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import sys
from pathlib import Path

import pytest

from gisttracker.protocols import cache, load_studies
from gisttracker.protocols.files import SEEDS_DIR
from gisttracker.protocols.loader import load_study
from gisttracker.protocols.model import Study, VisitName


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test."""
    path = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_VAR, str(path))
    return path


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    """A copy of the shipped protocol files this test may edit."""
    path = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, path)
    return path


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _count_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the validating loader checks from now on."""
    from gisttracker.protocols import loader

    checked: list[str] = []
    real = loader.study_from_bytes

    def counting(data: bytes, file: str) -> Study:
        checked.append(file)
        return real(data, file)

    monkeypatch.setattr(loader, "study_from_bytes", counting)
    return checked


def test_a_cached_study_is_the_one_the_checks_build(folder: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    checked = _count_checks(monkeypatch)
    first = load_studies(SEEDS_DIR)
    assert len(checked) == 5 and len(_entries(folder)) == 5
    again = load_studies(SEEDS_DIR)
    assert len(checked) == 5  # nothing checked the second time: all five from the cache
    assert not first.errors and not again.errors
    for cached in again.studies:
        fresh = load_study(SEEDS_DIR / cached.path)
        assert cached == fresh and cached is not fresh
        assert (cached.text, cached.digest, cached.path) == (fresh.text, fresh.digest,
                                                            fresh.path)
        assert repr(cached) == repr(fresh)
        # Protocol text keeps its translations, and visit names fill theirs in lazily, from
        # the catalogue installed when they are read (not from the one of the cache's day).
        assert cached.title.translations == fresh.title.translations  # type: ignore[attr-defined]
        for mine, theirs in zip(cached.visits, fresh.visits, strict=True):
            assert mine.name.translations == theirs.name.translations  # type: ignore[attr-defined]
            assert type(mine.name) is type(theirs.name)
        assert any(isinstance(v.name, VisitName) for v in cached.visits) == any(
            isinstance(v.name, VisitName) for v in fresh.visits)


def test_an_edited_file_is_checked_again_and_its_error_reported(
        folder: Path, seeds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_studies(seeds)  # all five cached
    path = seeds / "nct04933669_neoadjuvant.toml"
    good = path.read_bytes()
    # A visit window of ten million days: refused by the checks, cache or no cache.
    bad = good.replace(b"window_after = { days = ", b"window_after = { days = 9999999", 1)
    assert bad != good
    path.write_bytes(bad)
    result = load_studies(seeds)
    assert "NCT04933669" not in {s.key for s in result.studies}
    assert [e.file for e in result.errors] == [path.name]
    # Refused files are never cached: the error is worked out (and reported) every time.
    assert len(_entries(folder)) == 5
    assert [e.file for e in load_studies(seeds).errors] == [path.name]
    # Put back, the file is read from its old entry again.
    path.write_bytes(good)
    checked = _count_checks(monkeypatch)
    assert "NCT04933669" in {s.key for s in load_studies(seeds).studies}
    assert checked == []


def test_a_site_copy_is_cached_under_its_own_bytes(folder: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    load_studies(SEEDS_DIR)
    site = tmp_path / "protocols"
    site.mkdir()
    name = "nct04933669_neoadjuvant.toml"
    text = (SEEDS_DIR / name).read_text(encoding="utf-8")
    (site / name).write_text(text.replace("target_enrollment = 122", "target_enrollment = 99"),
                             encoding="utf-8")
    checked = _count_checks(monkeypatch)
    result = load_studies(SEEDS_DIR, site)
    assert checked == [name]  # only the site's copy was new
    assert {s.key: s.target_enrollment for s in result.studies}["NCT04933669"] == 99
    # A site copy edited into another study's key is still refused when both are cached.
    (site / name).write_text(text.replace('key = "NCT04933669"', 'key = "RECTAL-LE"', 1),
                             encoding="utf-8")
    load_studies(SEEDS_DIR, site)
    again = load_studies(SEEDS_DIR, site)
    assert "NCT04933669" in again.blocked and [e.key for e in again.errors] == ["key"]


def test_a_damaged_entry_is_rebuilt(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    load_studies(SEEDS_DIR)
    for number, entry in enumerate(_entries(folder)):
        entry.write_bytes(entry.read_bytes()[: 40 * number])  # empty, then cut short
    checked = _count_checks(monkeypatch)
    with caplog.at_level(logging.INFO, logger=cache.__name__):
        result = load_studies(SEEDS_DIR)
    assert len(checked) == 5 and not result.errors and len(result.studies) == 5
    assert "unreadable" in caplog.text
    assert all(e.stat().st_size > 1000 for e in _entries(folder))  # rewritten whole
    checked.clear()
    load_studies(SEEDS_DIR)
    assert checked == []


class _Calls:
    """A pickle that would call a function when loaded by pickle's own loader."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, ("/tmp/never-made-by-a-protocol-cache",))


def test_a_forged_entry_runs_nothing_and_is_checked_again(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_studies(SEEDS_DIR)
    target = Path("/tmp/never-made-by-a-protocol-cache")
    assert not target.exists()
    for entry in _entries(folder):
        entry.write_bytes(pickle.dumps((cache.FORMAT, entry.name, _Calls())))
    checked = _count_checks(monkeypatch)
    result = load_studies(SEEDS_DIR)
    assert not target.exists()
    assert len(checked) == 5 and len(result.studies) == 5 and not result.errors


def test_an_entry_for_other_bytes_is_not_taken(folder: Path, seeds: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Each entry swapped for another file's (its name and key then say the other file): the
    # study must carry this file's own text, name and digest, so each is checked again.
    load_studies(seeds)
    entries = _entries(folder)
    blobs = [e.read_bytes() for e in entries]
    for entry, blob in zip(entries, blobs[1:] + blobs[:1], strict=True):
        magic, _stored, study = pickle.loads(blob)
        entry.write_bytes(pickle.dumps((magic, entry.name, study)))
    checked = _count_checks(monkeypatch)
    result = load_studies(seeds)
    assert len(checked) == 5
    for study in result.studies:
        assert study == load_study(seeds / study.path)


def test_other_code_does_not_read_the_entries(folder: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    load_studies(SEEDS_DIR)
    # The code version (the checks' sources, the libraries' versions, Python's) changed.
    monkeypatch.setattr(cache, "code_version", lambda: b"other code")
    checked = _count_checks(monkeypatch)
    load_studies(SEEDS_DIR)
    assert len(checked) == 5 and len(_entries(folder)) == 10


def test_the_code_version_covers_the_checks_sources() -> None:
    version = cache.code_version()
    assert version is not None and len(version) == 32
    # Computed from the sources of the package (every module of it) and i18n, errors.
    package = Path(cache.__file__).parent
    assert {"loader.py", "model.py", "catalogue.py", "files.py", "cache.py"} <= {
        p.name for p in package.glob("*.py")}


def test_the_cache_can_be_turned_off_or_unwritable(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV_VAR, "")
    assert cache.directory() is None
    assert len(load_studies(SEEDS_DIR).studies) == 5
    # A cache folder that cannot be made (a file is in the way): the checks, nothing more.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(cache.ENV_VAR, str(blocker / "cache"))
    result = load_studies(SEEDS_DIR)
    assert len(result.studies) == 5 and not result.errors


def test_the_default_folder_is_the_users_cache(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.delenv(cache.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert cache.directory() == tmp_path / "xdg" / "gisttracker" / "protocols"
    else:
        assert cache.directory() is not None


def test_entries_are_private_and_pruned(folder: Path, seeds: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 6)
    load_studies(seeds)
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    path = seeds / "rectal_organ_preservation.toml"
    text = path.read_text(encoding="utf-8")
    for n in range(4):  # four more versions of one file
        path.write_text(text + f"\n# version {n}\n", encoding="utf-8")
        load_studies(seeds)
    assert len(_entries(folder)) == 6
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    # What a write cut short left is removed once it is old (a young one may be another
    # process's write in progress).
    old, young = folder / ".abandoned.tmp", folder / ".writing.tmp"
    for leftover in (old, young):
        leftover.write_bytes(b"half an entry")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    path.write_text(text + "\n# version 5\n", encoding="utf-8")
    load_studies(seeds)
    assert not old.exists() and young.exists() and len(_entries(folder)) == 6


def test_the_start_hashes_as_hashlib_does() -> None:
    # files.sha256 is Python's built-in SHA-256 where there is one (no OpenSSL loaded at
    # start): the digests must be hashlib's, or every recorded protocol version would change.
    import hashlib

    from gisttracker.protocols.files import sha256, text_digest

    for data in (b"", b"abc", bytes(range(256)) * 1000):
        assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
        both = sha256(data[:7])
        both.update(data[7:])
        assert both.digest() == hashlib.sha256(data).digest()
    text = (SEEDS_DIR / "rectal_organ_preservation.toml").read_text(encoding="utf-8")
    assert text_digest(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert text_digest("\ud800") == hashlib.sha256(b"\xed\xa0\x80").hexdigest()
