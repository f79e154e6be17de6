"""Where the log goes (DESIGN: logs): journald under systemd (stderr, which the journal stamps),
else a rotating file in the data folder. Every line is one line, numbers masked and control
characters escaped, whatever a message carried in from a file name or an exception."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from services.core import visible
from services.core.config import Config
from services.core.phone import mask_any_in

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_MAX_BYTES = 5 * 1024 * 1024
_KEEP = 5
_OURS = "callrec"  # the handlers this module added carry this name


class OneLine(logging.Formatter):
    """A record as one safe line: a traceback joined onto it, escaped like any untrusted text."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(mask_any_in(super().format(record)))


def log_file(cfg: Config) -> Path:
    return cfg.data / "logs" / "callrec.log"


def under_systemd() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM"))


def setup(cfg: Config, *, to_stderr: bool = False, console: bool = False) -> None:
    """Send the services' and faces' records where this machine keeps them (set up again, the
    handlers are replaced). `to_stderr`: a command that runs like a service (`callrec indexer`)
    shows its warnings on the terminal too. `console`: the terminal is the console's screen, so
    nothing is ever written to it, under systemd included."""
    # A log that cannot be written (a full disk, a read-only data folder) must not add its own
    # traceback to the one line the failure itself is told in.
    logging.raiseExceptions = False
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _OURS]:
        root.removeHandler(old)
        old.close()
    root.setLevel(LEVELS[cfg.log_level])
    handler: logging.Handler
    if under_systemd() and not console:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(levelname)s %(name)s: %(message)s"  # the journal adds the time and the unit
    else:
        fmt = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
        try:
            path = log_file(cfg)
            path.parent.mkdir(mode=0o750, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=_MAX_BYTES, backupCount=_KEEP, encoding="utf-8", delay=True
            )
        except OSError:  # no data folder yet, or not ours to write
            handler = logging.NullHandler()  # Python's last resort would write over the screen
        if to_stderr and not console:
            err = logging.StreamHandler(sys.stderr)
            err.setLevel(logging.WARNING)
            err.addFilter(logging.Filter("services"))  # the faces print their own lines there
            _add(root, err, fmt)
    _add(root, handler, fmt)
    logging.captureWarnings(True)


def _add(root: logging.Logger, handler: logging.Handler, fmt: str) -> None:
    handler.set_name(_OURS)
    handler.setFormatter(OneLine(fmt))
    root.addHandler(handler)
