#!/bin/sh
# Install GIST Study Tracker for this user, from the folder this script is in (the unpacked
# tarball): a menu entry with its icon, and the `gisttracker` command in ~/.local/bin.
# Nothing is copied elsewhere and no root is needed; move the folder, then run this again.
#   ./install.sh              add (or update) the menu entry and the command
#   ./install.sh --uninstall  remove them; this folder and your data are left alone
# The site database lives in ~/.local/share/gisttracker (or where --db says): an uninstall
# never touches it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
apps=$data/applications
icons=$data/icons/hicolor/scalable/apps
bin=$HOME/.local/bin

case "${1:-}" in
  --uninstall)
    rm -f "$apps/gisttracker.desktop" "$icons/gisttracker.svg"
    if [ -L "$bin/gisttracker" ]; then rm -f "$bin/gisttracker"; fi
    echo "Removed the menu entry and the gisttracker command."
    echo "Your data (in $data/gisttracker) and this folder are kept."
    exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--uninstall]" >&2; exit 2 ;;
esac

if [ ! -x "$here/gisttracker" ]; then
  echo "install.sh: $here/gisttracker is missing; unpack the whole tarball first" >&2
  exit 1
fi
mkdir -p "$apps" "$icons" "$bin"
cp "$here/gisttracker.svg" "$icons/gisttracker.svg"
# The shipped entry runs `gisttracker` from PATH; this one names this folder's program.
sed -e "s|^Exec=.*|Exec=\"$here/gisttracker\"|" -e "s|^TryExec=.*|TryExec=$here/gisttracker|" \
  "$here/gisttracker.desktop" > "$apps/gisttracker.desktop"
ln -sfn "$here/gisttracker" "$bin/gisttracker"
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$apps" || true
fi
echo "GIST Study Tracker is in your applications menu; \`gisttracker\` is in $bin."
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "($bin is not on your PATH yet: add it to use the command in a terminal.)" ;;
esac
