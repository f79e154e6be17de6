"""Secret key files kept outside the database (mode 0600 in a 0700 folder).

`pepper` enters every PIN hash; `audit` keys the audit chain's HMAC. A database copied without its
keys can neither check PINs nor forge audit entries. The database keeps a fingerprint of each key
(services/access/identity.py), so a key swapped or replaced is refused before it is used.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from services.core.errors import KeyFileError

KEY_NAMES = ("pepper", "audit")
_KEY_BYTES = 32
_FINGERPRINT_LABEL = b"callrec key fingerprint v1"


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
        raise KeyFileError(f"{path}: key file missing (restore it from the backup)", path=str(path)) from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file: {exc.strerror}", path=str(path)) from None
    if len(data) != _KEY_BYTES:
        raise KeyFileError(f"{path}: key file damaged", path=str(path))
    if os.stat(path).st_mode & 0o077:
        raise KeyFileError(
            f"{path}: key file readable by others (chmod 600 it)", code="keyfile_mode", path=str(path)
        )
    return data


def fingerprint(key: bytes) -> str:
    """What the database keeps of a key: an HMAC of a fixed label under it, never the key."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def check_folder(keys_dir: Path) -> None:
    """Refuse a keys folder that another user owns or that others may write to: whoever can put
    a file there can make PINs fail or seal audit entries with a key of their own."""
    try:
        st = os.stat(keys_dir)
    except FileNotFoundError:
        raise KeyFileError(
            f"{keys_dir}: keys folder missing (restore it from the backup)", path=str(keys_dir)
        ) from None
    except OSError as exc:
        raise KeyFileError(
            f"{keys_dir}: cannot read the keys folder: {exc.strerror}", path=str(keys_dir)
        ) from None
    if st.st_uid != os.geteuid():
        raise KeyFileError(
            f"{keys_dir}: the keys folder belongs to another user (uid {st.st_uid})",
            code="keys_dir_owner",
            path=str(keys_dir),
            uid=st.st_uid,
        )
    if st.st_mode & 0o022:
        raise KeyFileError(
            f"{keys_dir}: others can write to the keys folder (chmod 700 it)",
            code="keys_dir_mode",
            path=str(keys_dir),
        )
