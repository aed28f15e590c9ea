"""What the program does first, so that a start costs only what its first screen needs.

Called by the entry point (:func:`gisttracker.cli.main`) before anything else is imported;
the library itself (tests, scripts) imports as usual.

* **The server driver on demand.** peewee imports every database driver it can find when it
  is imported itself; psycopg, the PostgreSQL driver of the server mode, costs about 60 ms
  (its C extension, asyncio, importlib.metadata), which every start of the window and every
  command on a site file paid for nothing. :func:`defer_server_driver` makes peewee's own
  import find no psycopg; :func:`attach_server_driver` (called when a server database is
  opened: :class:`gisttracker.store.server.ServerDatabase`) imports it and gives peewee what
  its import would have set. ``tests/core/test_startup_imports.py`` checks that peewee ends
  up exactly as a plain import leaves it, so a peewee upgrade that changes its import block
  fails there, not at a site.
* **No cycle collection while starting.** Imports create hundreds of thousands of objects,
  none of them garbage; Python's automatic collection scans them again and again (30–45 ms
  of a window's start). :func:`begin` turns it off until the command's own work starts
  (:func:`resume_collection`) or the window's first screen shows its data (:func:`settle`);
  both then move what exists by then out of the collector's sight (:func:`gc.freeze`).
"""

from __future__ import annotations

import gc
import sys
from types import ModuleType
from typing import Any

#: The driver peewee would import at its own import and that only the server mode uses.
SERVER_DRIVER = "psycopg"


class _Loader:
    """peewee's own loader, running its module with :data:`SERVER_DRIVER` hidden."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        if SERVER_DRIVER in sys.modules:  # already loaded by someone: nothing to save
            self._loader.exec_module(module)
            return
        # A None entry makes `import psycopg` raise ImportError at once (peewee then sets
        # its psycopg names to None, as on a machine without the driver).
        sys.modules[SERVER_DRIVER] = None  # type: ignore[assignment]
        try:
            self._loader.exec_module(module)
        finally:
            if sys.modules.get(SERVER_DRIVER, 0) is None:
                del sys.modules[SERVER_DRIVER]

    def __getattr__(self, name: str) -> Any:  # get_code, get_source, is_package, …
        return getattr(self._loader, name)


class _DeferServerDriver:
    """A finder on :data:`sys.meta_path` that hands out peewee's spec with :class:`_Loader`
    (and then leaves the path: peewee is imported once)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "peewee":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:  # the finders that would have found it
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def defer_server_driver() -> None:
    """Make the coming import of peewee skip the server driver (no-op once peewee is in)."""
    if "peewee" in sys.modules or any(isinstance(f, _DeferServerDriver) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _DeferServerDriver())


def attach_server_driver() -> None:
    """Import the server driver and give peewee what its own import sets when the driver is
    there (its psycopg names and the psycopg 3 adapter's transaction states). Does nothing
    when peewee already has it. ImportError when the driver is not installed."""
    import peewee
    import psycopg

    if peewee.psycopg is not None:  # type: ignore[attr-defined]
        return
    from psycopg.pq import TransactionStatus
    from psycopg.types.json import Json, Jsonb

    # The names peewee's import block binds (peewee 4.x, `try: import psycopg …`).
    module: Any = peewee
    module.psycopg = psycopg
    module.TransactionStatus = TransactionStatus
    module.Json_pg3 = Json
    module.Jsonb_pg3 = Jsonb
    # …and what the body of its Psycopg3Adapter class sets when psycopg was found.
    adapter: Any = peewee.Psycopg3Adapter
    adapter.txn_idle = TransactionStatus.IDLE
    adapter.txn_inerror = TransactionStatus.INERROR
    adapter.txn_unknown = TransactionStatus.UNKNOWN


_paused = False


def begin() -> None:
    """Called first by the program's entry point (not by Python code calling the command
    line, such as a test): defer the server driver and pause cycle collection."""
    global _paused
    defer_server_driver()
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_collection() -> None:
    """Before a command's own work: what exists now (modules, classes, the parser) lives as
    long as the process, so it is frozen out of every later collection; then collection is
    automatic again. Nothing when :func:`begin` did not pause it."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def settle() -> None:
    """Once the window's first screen shows its data: collect what start-up left over, then
    freeze the rest (the window's periodic collections, :class:`ui.tasks.TaskManager`, then
    scan only what came after). Automatic collection stays as the window's task manager
    keeps it (off while it runs). Nothing when :func:`begin` did not pause it."""
    global _paused
    if _paused:
        _paused = False
        gc.collect()
        gc.freeze()
