"""Sizes as people read them: decimal units, as media and disks are sold (a DVD-R holds 4.7 GB).
The one way a byte count is written anywhere (screens, forms, records, the command line)."""

from __future__ import annotations


def size(n: int) -> str:
    """1,234 B / 12.3 KB / 4.5 MB / 1.2 GB / 3.4 TB."""
    if n < 1000:
        return f"{n:,} B"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
