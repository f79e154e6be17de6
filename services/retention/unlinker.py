"""Deleting one batch of a purge's files, and the helper process that does it (purge_files.py).

Standard library only: the helper runs as `python -E -S purge_unlinker.py SPOOL PARENT_PID`, says
it is ready, then reads one batch per line ({"paths": [...], "known": [...], "journal": path}:
files relative to the spool, their indexed identities (Known); the file to sync first) and answers
one line per batch: {"absent": [index...], "kept": [[index, reason]...], "refused": [[index,
code]...], "seconds": s}. It ends when its
input ends, and dies with the purge process (Linux: PR_SET_PDEATHSIG). Syncing the folders
afterwards, and removing those emptied, is `after_deletion`'s, run by the purge process beside the
helper's next batch.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Sequence
from typing import Any

try:
    from services.core import beneath, testpoints
except ImportError:  # run as the helper (-E -S): the standard library and the stdlib-only services/core files
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "core"))
    import beneath  # type: ignore[import-not-found,no-redef]  # the same file, found by path
    import testpoints  # type: ignore[import-not-found,no-redef]  # the same file, found by path


READY = b"ready\n"


class Deleted:
    """What happened to a batch: indexes of the paths already absent, of those that could not be
    deleted (with the reason: the purge stops), and of those refused because the file there is
    not provably the indexed recording (with a code of REFUSED: kept, the purge goes on); every
    other path was deleted."""

    __slots__ = ("absent", "kept", "refused", "seconds")

    def __init__(self) -> None:
        self.absent: list[int] = []
        self.kept: list[tuple[int, str]] = []
        self.refused: list[tuple[int, str]] = []
        self.seconds = 0.0


# Why a file was refused: what a purge records on the call (calls.purge_kept) and in the audit log.
REFUSED = {
    "symlink": "a symbolic link on its path",
    "not_regular": "not a regular file",
    "size": "not the indexed size",
    "other_file": "another file: neither the indexed file nor its bytes",
}

# The indexed identity of a file: size, mtime_ns, sha256 (None: not known), dev, ino (None: not
# recorded, for calls indexed before the index kept them).
Known = Sequence[Any]


def delete_files(
    root: str, paths: Sequence[str], journal: str | None = None, known: Sequence[Known] | None = None
) -> Deleted:
    """First make the journal durable: fsync `journal` (the database's write-ahead log, where the
    purge committed the batch's mark without waiting for the disk) before any file goes; if that
    fails, nothing is deleted. Then unlink the files, each reached from `root` without following a
    symbolic link at any step, and only while it is the indexed recording (`known`, see
    `is_indexed`). Never raises for a file: what failed or was not the recording stays, reported."""
    began = time.perf_counter()
    out = Deleted()
    if journal is not None:
        problem = sync_file(journal)
        if problem:
            out.kept = [(i, problem) for i in range(len(paths))]
            out.seconds = time.perf_counter() - began
            return out
    pause_at = len(paths) // 2 if os.environ.get(testpoints.PAUSE_AT) == "mid_unlink" else -1
    try:
        folders = _Folders(root)
    except OSError as exc:
        out.kept = [(i, exc.strerror or str(exc)) for i in range(len(paths))]
        out.seconds = time.perf_counter() - began
        return out
    try:
        for i, path in enumerate(paths):
            if i == pause_at:
                testpoints.pause("mid_unlink")
            folder, _, name = path.rpartition("/")
            try:
                dir_fd = folders.open(folder)
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                refused = is_indexed(dir_fd, name, st, known[i] if known is not None else None)
                if refused:
                    out.refused.append((i, refused))
                    continue
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                out.absent.append(i)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    out.refused.append((i, "symlink"))
                else:
                    out.kept.append((i, exc.strerror or str(exc)))
    finally:
        folders.close()
    out.seconds = time.perf_counter() - began
    return out


def is_indexed(dir_fd: int, name: str, st: os.stat_result, known: Known | None) -> str:
    """ "" when the file `name` (lstat `st`) is the indexed recording, else a code of REFUSED. It
    is when it is the same file as indexed (device, inode, size, modification time), or, that
    failing (a restored spool has new inodes), when its bytes are the indexed ones (SHA-256)."""
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if not stat.S_ISREG(st.st_mode):
        return "not_regular"
    if known is None:
        return ""
    size, mtime_ns, sha256, dev, ino = known
    if st.st_size != size:
        return "size"
    if (st.st_dev, st.st_ino, st.st_mtime_ns) == (dev, ino, mtime_ns):
        return ""
    if sha256 and _sha256_at(dir_fd, name, st) == sha256:
        return ""
    return "other_file"


def _sha256_at(dir_fd: int, name: str, st: os.stat_result) -> str:
    """The SHA-256 of the regular file `name` if it is still the file `st` describes, else ""."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return ""
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
            return ""
        h = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
        return h.hexdigest()
    except OSError:
        return ""
    finally:
        os.close(fd)


class _Folders:
    """Folder descriptors under the spool, each opened relative to its parent with O_NOFOLLOW
    (a day folder replaced by a symlink is refused, not followed); the last one is kept open, as
    a batch deletes folder by folder."""

    def __init__(self, root: str) -> None:
        self.root = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        self.folder: str | None = None
        self.fd = -1

    def open(self, folder: str) -> int:
        if folder == self.folder:
            return self.fd
        self._drop()
        self.fd = beneath.open_folder(self.root, folder)
        self.folder = folder
        return self.fd

    def _drop(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.folder, self.fd = None, -1

    def close(self) -> None:
        self._drop()
        os.close(self.root)


def after_deletion(root: str, folders: Sequence[str], tidy: Sequence[str] = ()) -> list[str]:
    """fsync the folders files were deleted from, so the deletions are on disk before they are
    recorded; then remove the folders of `tidy` that are empty now (earlier batches emptied them;
    rmdir refuses a folder that is not, so a recording arriving meanwhile is safe). Removals are
    not synced: an empty folder back after a power cut would be harmless. Returns those removed."""
    for folder in folders:
        # a folder removed meanwhile (tidied after an earlier batch): its parent holds the news
        while folder and not os.path.isdir(f"{root}/{folder}"):
            folder = folder.rpartition("/")[0]
        fsync_folder(f"{root}/{folder}" if folder else root)
    removed = []
    for folder in tidy:
        if folder and folder not in folders:
            try:
                os.rmdir(f"{root}/{folder}")
            except OSError:
                continue
            removed.append(folder)
    return removed


def sync_file(path: str) -> str:
    """fsync a file; "" when done (or when there is no such file: SQLite has moved the log's
    pages into the database and synced it already), else why not."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot sync {path}: {exc.strerror or exc}"
    try:
        os.fsync(fd)
    except OSError as exc:
        return f"cannot sync {path}: {exc.strerror or exc}"
    finally:
        os.close(fd)
    return ""


def fsync_folder(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _die_with(parent: int) -> None:
    """Be killed by the kernel when the purge process ends, however it ends."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it ended before that took effect
        sys.exit(1)


def main() -> None:
    root, parent = sys.argv[1], int(sys.argv[2])
    _die_with(parent)
    sys.stdout.write(READY.decode())
    sys.stdout.flush()
    for line in sys.stdin.buffer:
        batch = json.loads(line)
        done = delete_files(root, batch["paths"], batch["journal"], batch["known"])
        sys.stdout.write(
            json.dumps(
                {"absent": done.absent, "kept": done.kept, "refused": done.refused, "seconds": done.seconds}
            )
            + "\n"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
