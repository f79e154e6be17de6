"""Secret key files kept outside the database (mode 0600 in a 0700 folder).

`pepper` enters every PIN hash; `audit` keys the audit chain's HMAC. A database copied without its
keys can neither check PINs nor forge audit entries.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from services.errors import KeyFileError

KEY_NAMES = ("pepper", "audit")
_KEY_BYTES = 32


def key_path(keys_dir: Path, name: str) -> Path:
    return keys_dir / f"{name}.key"


def create_keys(keys_dir: Path) -> None:
    """Create any key that does not exist yet; never overwrite one."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    for name in KEY_NAMES:
        path = key_path(keys_dir, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(_KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())


def load_key(keys_dir: Path, name: str) -> bytes:
    path = key_path(keys_dir, name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: key file missing (restore it from the backup)", path=str(path)
        ) from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file: {exc.strerror}", path=str(path)) from None
    if len(data) != _KEY_BYTES:
        raise KeyFileError(f"{path}: key file damaged", path=str(path))
    if os.stat(path).st_mode & 0o077:
        raise KeyFileError(
            f"{path}: key file readable by others (chmod 600 it)", code="keyfile_mode", path=str(path)
        )
    return data
