"""Backups: the database (an online copy) together with its key files, which it is useless without."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from services.access.audit import AuditLog
from services.core import keys
from services.core.clock import Clock
from services.core.config import Config
from services.core.db import Database
from services.core.errors import StorageError
from services.core.version import VERSION


@dataclass(frozen=True)
class BackupResult:
    folder: Path
    audit_head: str | None
    files: dict[str, str]  # name -> sha256


async def backup(cfg: Config, db: Database, audit: AuditLog, clock: Clock, dest: Path) -> BackupResult:
    folder = dest / f"callrec-{clock.now():%Y%m%d-%H%M%S}"
    try:
        (folder / "keys").mkdir(parents=True, exist_ok=False)
        os.chmod(folder, 0o700)
        os.chmod(folder / "keys", 0o700)
        await db.backup_to(folder / "callrec.db")
        for name in keys.KEY_NAMES:
            target = folder / "keys" / keys.key_path(cfg.keys_dir, name).name
            shutil.copyfile(keys.key_path(cfg.keys_dir, name), target)
            os.chmod(target, 0o600)
        files = {
            str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        head = await audit.head()
        lines = [f"{digest}  {name}" for name, digest in files.items()]
        (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / "AUDIT_HEAD").write_text(f"{head}\n" if head else "-\n", encoding="utf-8")
        (folder / "VERSION").write_text(f"callrec {VERSION}\n", encoding="utf-8")
        for p in folder.rglob("*"):
            if p.is_file():
                _fsync(p)
    except FileExistsError:
        raise StorageError(f"{folder}: exists already", path=str(folder)) from None
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise StorageError(f"{dest}: backup failed: {exc.strerror}", path=str(dest)) from None
    return BackupResult(folder, str(head) if head else None, files)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
