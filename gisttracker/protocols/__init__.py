"""Study protocols: the data model, the vocabulary, and the validating loader."""

from gisttracker.protocols.loader import LoadResult, ProtocolError, load_studies, load_study
from gisttracker.protocols.model import Study

__all__ = ["LoadResult", "ProtocolError", "Study", "load_studies", "load_study"]
