"""Study protocols: the data model, the vocabulary, and the validating loader.

Importing the package loads the model and the reading of a site's files
(:mod:`gisttracker.protocols.files`), not the validating loader: a start whose protocol
files are all in the cache of validated files never imports it.
"""

from typing import TYPE_CHECKING, Any

from gisttracker.protocols.files import LoadResult, ProtocolError, load_studies
from gisttracker.protocols.model import Study

if TYPE_CHECKING:
    from gisttracker.protocols.loader import load_study

__all__ = ["LoadResult", "ProtocolError", "Study", "load_studies", "load_study"]


def __getattr__(name: str) -> Any:
    if name == "load_study":
        from gisttracker.protocols.loader import load_study

        return load_study
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
