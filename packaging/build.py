"""Build GIST Study Tracker's bundle and installers: ``python packaging/build.py TARGET``.

Run it with the project's virtual environment (``scripts/setup`` installs PyInstaller), from
anywhere; outputs go to ``dist/`` and intermediate files to ``build/`` in the repository.

Targets:
  bundle   the one-folder PyInstaller bundle, ``dist/gisttracker/`` (any platform)
  linux    bundle + ``dist/gisttracker-<version>-linux-<arch>.tar.gz`` (with desktop entry)
  windows  bundle + Inno Setup installer ``dist/GIST-Study-Tracker-<version>-setup.exe``
  macos    bundle + ``dist/GIST Study Tracker.app`` + ``dist/GIST-Study-Tracker-<version>.dmg``
  smoke    run the built bundle's --version, studies, demo, a report and --startup-check
  fonts    put the report fonts into resources/fonts (from this machine's Debian packages,
           else downloaded from Debian and checked against pinned SHA-256 sums)
  icons    render the .ico/.icns/.png icons from resources/icons/gisttracker.svg

The Windows target needs Inno Setup 6 (``ISCC.exe`` on PATH or in its default folder); the
macOS target needs ``hdiutil`` (part of macOS). Each target says what is missing, in one line.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bundle_support as support  # noqa: E402

APP_NAME = "GIST Study Tracker"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)


def folder_size(folder: Path) -> int:
    """Bytes of every file under ``folder`` (links counted once, not followed)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def executable(bundle: Path, name: str) -> Path:
    """A program inside the bundle folder (``.exe`` on Windows)."""
    return bundle / (name + (".exe" if sys.platform.startswith("win") else ""))


# ----- targets ------------------------------------------------------------------------------
def build_bundle(distpath: Path, workpath: Path) -> Path:
    """Run PyInstaller on the spec; returns the bundle folder (``distpath/gisttracker``)."""
    support.font_sources(ROOT)  # fail before PyInstaller's minutes, not after
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(distpath), "--workpath", str(workpath),
         str(HERE / "gisttracker.spec")],
        check=True, cwd=ROOT)
    bundle = distpath / "gisttracker"
    print(f"bundle: {bundle} built in {time.perf_counter() - started:.0f} s, "
          f"{folder_size(bundle) / 1e6:.1f} MB unpacked")
    return bundle


def build_linux(distpath: Path, workpath: Path) -> Path:
    """The bundle as a tarball with a desktop entry and a per-user install script."""
    bundle = build_bundle(distpath, workpath)
    shutil.copy2(HERE / "linux" / "install.sh", bundle / "install.sh")
    shutil.copy2(HERE / "gisttracker.desktop", bundle / "gisttracker.desktop")
    shutil.copy2(ROOT / "resources" / "icons" / "gisttracker.svg", bundle / "gisttracker.svg")
    (bundle / "install.sh").chmod(0o755)
    top = f"gisttracker-{support.version(ROOT)}"
    tarball = distpath / f"{top}-linux-{platform.machine()}.tar.gz"
    # gzip level 6: 0.4 % larger than level 9 here (64.0 vs 63.8 MB), twice as fast.
    with tarfile.open(tarball, "w:gz", compresslevel=6) as archive:
        archive.add(bundle, arcname=top)
    print(f"linux: {tarball} ({tarball.stat().st_size / 1e6:.1f} MB)")
    return tarball


def find_iscc() -> Path:
    found = shutil.which("iscc") or shutil.which("ISCC")
    if found:
        return Path(found)
    for base in (os.environ.get("PROGRAMFILES(X86)"), os.environ.get("PROGRAMFILES")):
        if base and (Path(base) / "Inno Setup 6" / "ISCC.exe").is_file():
            return Path(base) / "Inno Setup 6" / "ISCC.exe"
    raise support.BuildError("Inno Setup 6 not found (install it from https://jrsoftware.org/"
                             "isinfo.php, or put ISCC.exe on PATH)")


def build_windows(distpath: Path, workpath: Path) -> Path:
    """The bundle, then the Inno Setup installer around it."""
    iscc = find_iscc()
    icons = render_icons(ROOT / "build" / "icons")
    bundle = build_bundle(distpath, workpath)
    version = support.version(ROOT)
    subprocess.run(
        [str(iscc), f"/DAppVersion={version}", f"/DBundleDir={bundle}",
         f"/DOutputDir={distpath}", f"/DIconFile={icons / 'gisttracker.ico'}",
         str(HERE / "windows" / "gisttracker.iss")],
        check=True)
    installer = distpath / f"GIST-Study-Tracker-{version}-setup.exe"
    print(f"windows: {installer}")
    return installer


def build_macos(distpath: Path, workpath: Path) -> Path:
    """The bundle as ``GIST Study Tracker.app`` on a compressed disk image."""
    if shutil.which("hdiutil") is None:
        raise support.BuildError("hdiutil not found: the disk image is built on macOS")
    render_icons(ROOT / "build" / "icons")
    build_bundle(distpath, workpath)
    app = distpath / f"{APP_NAME}.app"
    if not app.is_dir():
        raise support.BuildError(f"PyInstaller made no {app}")
    version = support.version(ROOT)
    image = distpath / f"GIST-Study-Tracker-{version}-{platform.machine()}.dmg"
    with tempfile.TemporaryDirectory() as staging_name:
        staging = Path(staging_name)
        shutil.copytree(app, staging / app.name, symlinks=True)
        # Dragging the app onto this link is how a Mac user installs it.
        (staging / "Applications").symlink_to("/Applications")
        subprocess.run(["hdiutil", "create", "-volname", APP_NAME, "-srcfolder",
                        str(staging), "-ov", "-format", "UDZO", str(image)], check=True)
    print(f"macos: {image}")
    return image


def render_icons(out: Path) -> Path:
    """PNG icons of every size, a Windows .ico and a macOS .icns, from the SVG."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image  # reportlab's dependency, so always installed
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    out.mkdir(parents=True, exist_ok=True)
    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(ROOT / "resources" / "icons" / "gisttracker.svg"))
    if not renderer.isValid():
        raise support.BuildError("resources/icons/gisttracker.svg cannot be read")
    for size in ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        image.save(str(out / f"gisttracker-{size}.png"))
    with Image.open(out / "gisttracker-256.png") as big:
        big.save(out / "gisttracker.ico", sizes=[(s, s) for s in ICON_SIZES if s <= 256])
    with Image.open(out / "gisttracker-1024.png") as huge:
        huge.save(out / "gisttracker.icns")
    return out


def fonts() -> list[Path]:
    """Copy (Debian/Ubuntu) or download (elsewhere) the report fonts into resources/fonts."""
    destination = ROOT / "resources" / "fonts"
    copied: list[Path] = []
    for package in support.FONT_PACKAGES:
        for inside, name in package.files:
            system = Path("/") / inside
            if system.is_file() and not (destination / name).is_file():
                copied.append(Path(shutil.copy2(system, destination / name)))
    copied += support.fetch_fonts(destination)
    for path in copied:
        print(f"fonts: {path}")
    support.font_sources(ROOT)  # everything there now, licences included
    return copied


def smoke(bundle: Path) -> None:
    """Run the bundle's commands once each, out of the source tree; print wall times."""
    cli = executable(bundle, "gisttracker")
    with tempfile.TemporaryDirectory(prefix="gisttracker-smoke-") as work_name:
        work = Path(work_name)
        db = work / "site.db"
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        steps = [
            ["--version"],
            ["--db", str(db), "studies"],
            ["--db", str(db), "demo", "--patients", "30", "--seed", "1"],
            ["--db", str(db), "report", "screening", "--study", "NCT03862768",
             "-o", str(work / "screening.pdf")],
            ["--db", str(db), "--startup-check"],
        ]
        for args in steps:
            started = time.perf_counter()
            result = subprocess.run([str(cli), *args], cwd=work, env=env, capture_output=True,
                                    text=True, timeout=300)
            took = time.perf_counter() - started
            first = (result.stdout.strip().splitlines() or [""])[0]
            print(f"smoke: {' '.join(args[2:] if args[0] == '--db' else args)}: exit "
                  f"{result.returncode} in {took:.2f} s  {first[:70]}")
            if result.returncode != 0:
                raise support.BuildError(f"bundle failed: {result.stderr.strip()}")
    print(f"smoke: bundle {bundle} is {folder_size(bundle) / 1e6:.1f} MB unpacked")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=["bundle", "linux", "windows", "macos", "smoke",
                                           "fonts", "icons"])
    parser.add_argument("--distpath", type=Path, default=ROOT / "dist")
    parser.add_argument("--workpath", type=Path, default=ROOT / "build" / "pyinstaller")
    args = parser.parse_args(argv)
    targets = {
        "bundle": lambda: build_bundle(args.distpath, args.workpath),
        "linux": lambda: build_linux(args.distpath, args.workpath),
        "windows": lambda: build_windows(args.distpath, args.workpath),
        "macos": lambda: build_macos(args.distpath, args.workpath),
        "smoke": lambda: smoke(args.distpath / "gisttracker"),
        "fonts": fonts,
        "icons": lambda: render_icons(ROOT / "build" / "icons"),
    }
    targets[args.target]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
