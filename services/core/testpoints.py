"""Pause points for the crash-injection tests, and nothing else.

A test starts a real `callrec purge` with CALLREC_TEST_PAUSE_AT=<point> and
CALLREC_TEST_PAUSE_FILE=<path>: the first time it reaches that point the process writes its pid to
the file and waits while the file exists, so the test can kill it with SIGKILL exactly there (or
delete the file to let it go on). Without these variables every call is a dictionary lookup that does nothing.
CALLREC_TEST_PURGE_BATCH makes batches small enough for a test to crash between them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_AT = "CALLREC_TEST_PAUSE_AT"
PAUSE_FILE = "CALLREC_TEST_PAUSE_FILE"
PURGE_BATCH = "CALLREC_TEST_PURGE_BATCH"


_passed: set[str] = set()


def pause(point: str) -> None:
    """Pause the first time this process reaches `point` (when the test asked for it)."""
    if os.environ.get(PAUSE_AT) != point or point in _passed:
        return
    _passed.add(point)
    flag = Path(os.environ[PAUSE_FILE])
    written = flag.with_name(flag.name + ".tmp")  # the test reads the pid as soon as the flag exists
    written.write_text(str(os.getpid()))
    written.replace(flag)
    while flag.exists():
        time.sleep(0.01)


def purge_batch(default: int) -> int:
    value = os.environ.get(PURGE_BATCH)
    return int(value) if value and value.isdigit() and int(value) > 0 else default
