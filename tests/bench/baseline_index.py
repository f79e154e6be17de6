"""The yardstick for the cold-start figure: a minimal script that walks a spool, parses each name,
hashes each file and inserts the rows into SQLite with the index's own schema (FTS included).

It does what the indexer must do and nothing else: no skip reasons, no reconciliation, no audit,
no asyncio, one thread, one transaction. Its rows are the indexer's rows (the benchmark compares
them), so the comparison is like for like.

    python -m tests.bench.baseline_index SPOOL DB
"""

from __future__ import annotations

import calendar
import hashlib
import os
import sqlite3
import struct
import sys
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.core.schema import MIGRATIONS
from services.indexing.layouts import CITY_SIDE, CallType, FreePBXLayout

TZ = ZoneInfo("Asia/Tokyo")
INSERT = (
    "INSERT INTO calls (path, dir, started_at, type, city_number, other_number, caller_id, numbers,"
    " uniqueid, fmt, size, mtime_ns, duration_s, sha256, state, raw_retention_until, indexed_at,"
    " completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def number(raw: str) -> tuple[str | None, str]:
    if raw in ("anonymous",):
        return None, "withheld"
    digits = "".join(ch for ch in raw if ch.isdigit())
    if not digits or raw == "unknown":
        return None, "unavailable"
    if raw.startswith("+"):
        return ("0" + digits[2:] if digits.startswith("81") else "010" + digits), "number"
    return digits, "number"


def kept_through(day: date) -> str:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, calendar.monthrange(year, month)[1]).isoformat()


def wav_seconds(head: bytes) -> float | None:
    if head[:4] != b"RIFF" or head[36:40] != b"data":
        return None
    byte_rate, data_bytes = struct.unpack_from("<I", head, 28)[0], struct.unpack_from("<I", head, 40)[0]
    return round(data_bytes / byte_rate, 3) if byte_rate else None


def main(spool: str, db: str) -> float:
    began = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(MIGRATIONS[0][1])
    pattern = FreePBXLayout._RE
    now = int(time.time())
    conn.execute("BEGIN")
    for folder, dirs, names in os.walk(spool):
        dirs.sort()
        rel_dir = os.path.relpath(folder, spool).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        rows = []
        for name in names:
            m = pattern.fullmatch(name)
            if m is None:
                continue
            path = os.path.join(folder, name)
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                head = fh.read(4096)
                h.update(head)
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
                st = os.fstat(fh.fileno())
            d, t = m["date"], m["time"]
            started = datetime(
                int(d[:4]), int(d[4:6]), int(d[6:]), int(t[:2]), int(t[2:4]), int(t[4:]), tzinfo=TZ
            )
            city_raw, other_raw = m["dest"], m["source"]
            if CITY_SIDE[CallType(m["type"])] == "source":
                city_raw, other_raw = other_raw, city_raw
            city, _ = number(city_raw)
            other, caller_id = number(other_raw)
            rows.append(
                (
                    f"{rel_dir}/{name}",
                    rel_dir,
                    int(started.timestamp()),
                    m["type"],
                    city,
                    other,
                    caller_id,
                    " ".join(n for n in (city, other) if n),
                    m["uniqueid"],
                    m["fmt"],
                    st.st_size,
                    st.st_mtime_ns,
                    wav_seconds(head),
                    h.hexdigest(),
                    "complete",
                    kept_through(started.date()),
                    now,
                    now,
                )
            )
        conn.executemany(INSERT, rows)
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - began


if __name__ == "__main__":
    print(f"{main(sys.argv[1], sys.argv[2]):.3f}")
