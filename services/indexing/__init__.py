"""The recorder's truth: file names read by layout, the spool listed and watched, the index written."""

from services.indexing.indexer import Indexer
from services.indexing.layouts import CallType, FreePBXName, make_layout
from services.indexing.rederive import rederive

__all__ = ["CallType", "FreePBXName", "Indexer", "make_layout", "rederive"]
