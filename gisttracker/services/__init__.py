"""Services: the only code that writes to the database (see :mod:`.base`)."""

from gisttracker.services.base import Changes, ReasonRequired, ServiceError, Tracker, Writer

__all__ = ["Changes", "ReasonRequired", "ServiceError", "Tracker", "Writer"]
