"""Demo and benchmark data for callrec: a sample spool and tools that build spools.

Never imports textual.
"""

from pathlib import Path

SAMPLE_SPOOL: Path = Path(__file__).resolve().parent / "spool"
"""The committed sample spool (FreePBX layout, fixed dates in 2026-09..2026-11)."""

SAMPLE_MANIFEST: Path = Path(__file__).resolve().parent / "spool_manifest.json"
"""One entry per sample file: its relative path, parsed fields and the cases it covers."""

__all__ = ["SAMPLE_MANIFEST", "SAMPLE_SPOOL"]
