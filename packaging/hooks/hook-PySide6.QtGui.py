# PyInstaller hook for PySide6.QtGui: PyInstaller's own, minus the Qt plugins the program
# never loads (bundle_support.DROPPED_QT_PLUGINS says which and why). Leaving them out here,
# before PyInstaller follows each plugin's shared-library dependencies, also leaves out the
# libraries only they need (GTK's cairo and pango, Qt's EGLFS and Network libraries).
from bundle_support import keep_qt_plugin  # packaging/ is on sys.path (gisttracker.spec)
from PyInstaller.utils.hooks.qt import add_qt6_dependencies

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [(source, destination) for source, destination in binaries
            if keep_qt_plugin(source, destination)]
