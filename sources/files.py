"""Reading a source file safely: the one reader lives in agent/core/files.py (the charter is read by it too)."""
from __future__ import annotations

from agent.core.files import FileContent, SourceReadError, confine, read_source_file

__all__ = ["FileContent", "SourceReadError", "confine", "read_source_file"]
