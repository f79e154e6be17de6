"""Deleting one batch of a purge's files, and the helper process that does it (purge_files.py).

Standard library only: the helper runs as `python -E -S purge_unlinker.py SPOOL PARENT_PID`, says
it is ready, then reads one batch per line ({"paths": [...], "sizes": [...], "journal": path}:
files relative to the spool, their indexed sizes; the file to sync first) and answers one line
per batch: {"absent": [index...], "kept": [[index, reason]...], "seconds": s}. It ends when its
input ends, and dies with the purge process (Linux: PR_SET_PDEATHSIG). Syncing the folders
afterwards, and removing those emptied, is `after_deletion`'s, run by the purge process beside the
helper's next batch.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import time
from collections.abc import Sequence

try:
    from services import testpoints
except ImportError:  # run as the helper: this folder is the first on the path
    import testpoints  # type: ignore[import-not-found,no-redef]


READY = b"ready\n"


class Deleted:
    """What happened to a batch: indexes of the paths already absent, and of those that could not
    be deleted (with the reason); every other path was deleted."""

    __slots__ = ("absent", "kept", "seconds")

    def __init__(self) -> None:
        self.absent: list[int] = []
        self.kept: list[tuple[int, str]] = []
        self.seconds = 0.0


def delete_files(root: str, paths: Sequence[str], journal: str | None = None,
                 sizes: Sequence[int] | None = None) -> Deleted:
    """First make the journal durable: fsync `journal` (the database's write-ahead log, where the
    purge committed the batch's mark without waiting for the disk) before any file goes; if that
    fails, nothing is deleted. Then unlink the files, each reached from `root` without following a
    symbolic link at any step, and only if it is still a regular file of the indexed size
    (`sizes`). Never raises for a file: what failed or was not the recording stays, reported."""
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
                if not stat.S_ISREG(st.st_mode):
                    out.kept.append((i, "not a regular file any more: kept"))
                    continue
                if sizes is not None and st.st_size != sizes[i]:
                    out.kept.append((i, f"{st.st_size} bytes, indexed as {sizes[i]}: not the"
                                        " indexed recording, kept"))
                    continue
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                out.absent.append(i)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    out.kept.append((i, "a folder on its path is a symbolic link: kept"))
                else:
                    out.kept.append((i, exc.strerror or str(exc)))
    finally:
        folders.close()
    out.seconds = time.perf_counter() - began
    return out


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
        fd = os.dup(self.root)
        try:
            for part in folder.split("/") if folder else ():
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        self.folder, self.fd = folder, fd
        return fd

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
        done = delete_files(root, batch["paths"], batch["journal"], batch.get("sizes"))
        sys.stdout.write(json.dumps({"absent": done.absent, "kept": done.kept,
                                     "seconds": done.seconds}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
