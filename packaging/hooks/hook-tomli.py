"""PyInstaller hook for tomli's compiled parser.

tomli's mypyc-built modules import their shared runtime module (``<hash>__mypyc``, at the
top level of site-packages) from C, where PyInstaller's analysis cannot see it. Without it
the bundle's ``import tomli`` fails and the protocol loader falls back to the slower
standard ``tomllib`` without a word, so the module is named here, read from tomli's own
list of installed files.
"""

from importlib.metadata import PackageNotFoundError, distribution

try:
    _files = distribution("tomli").files or []
except PackageNotFoundError:
    _files = []

hiddenimports = [str(f).split(".")[0] for f in _files if "__mypyc" in str(f)]
