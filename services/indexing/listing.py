"""What the spool folder holds: regular files that may be recordings, and everything else with the
reason it is never indexed (symlinks, FIFOs, folders named like a recording, hidden and temporary
files, names that are not valid UTF-8).

Only this module looks at directory entries; the indexer decides what they mean for the index.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.core.errors import SpoolError
from services.indexing.layouts import SkipReason, skip_reason_for_name


@dataclass(slots=True)
class Entry:
    """A regular file in the spool, as listed."""

    rel: str  # relative to the spool, '/'-separated
    dir: str  # the folder part of rel ('' at the top)
    name: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class Listing:
    files: list[Entry] = field(default_factory=list)
    skipped: list[tuple[str, SkipReason]] = field(default_factory=list)
    subdirs: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Looked:
    """One path looked at after a watch event: exactly one of the fields says what it is."""

    entry: Entry | None = None
    folder: bool = False
    skip: SkipReason | None = None
    gone: bool = False  # no longer there
    ignored: bool = False  # not the recorder's (inside a hidden folder, or the spool itself)


def join(rel_dir: str, name: str) -> str:
    return f"{rel_dir}/{name}" if rel_dir else name


def check_spool(spool: Path) -> None:
    try:
        st = os.stat(spool)
    except FileNotFoundError:
        raise SpoolError(f"{spool}: spool folder missing", code="spool_missing", path=str(spool)) from None
    except OSError as exc:
        raise SpoolError(f"{spool}: {exc.strerror}", path=str(spool)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise SpoolError(f"{spool}: not a folder", code="spool_not_folder", path=str(spool))
    if not os.access(spool, os.R_OK | os.X_OK):
        raise SpoolError(f"{spool}: spool folder unreadable", code="spool_unreadable", path=str(spool))


def _folder_skip(name: str, looks_like_recording: Callable[[str], bool]) -> SkipReason | None:
    """Why a folder is reported (it is still descended unless hidden or undecodable)."""
    reason = skip_reason_for_name(name)
    if reason in (SkipReason.HIDDEN, SkipReason.BAD_ENCODING):
        return reason
    if reason is None and looks_like_recording(name):
        return SkipReason.NOT_REGULAR
    return None


def list_folder(spool: Path, rel_dir: str, looks_like_recording: Callable[[str], bool]) -> Listing:
    """One folder's entries. A folder that vanished lists as empty; other errors raise OSError."""
    out = Listing()
    try:
        with os.scandir(spool / rel_dir if rel_dir else spool) as it:
            entries = sorted(it, key=lambda e: e.name)  # name order: the same ids on any file system
    except FileNotFoundError:
        return out
    for entry in entries:
        name = entry.name
        rel = join(rel_dir, name)
        try:
            if entry.is_dir(follow_symlinks=False):
                reason = _folder_skip(name, looks_like_recording)
                if reason is SkipReason.HIDDEN:
                    continue  # .Trash and the like are not the recorder's
                if reason is not None:
                    out.skipped.append((rel, reason))
                if reason is not SkipReason.BAD_ENCODING:
                    out.subdirs.append(rel)
                continue
            reason = skip_reason_for_name(name)
            if reason is not None:
                out.skipped.append((rel, reason))
                continue
            if not entry.is_file(follow_symlinks=False):
                out.skipped.append((rel, SkipReason.NOT_REGULAR))
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # vanished between listing and stat; an event or the next scan sees it
        out.files.append(Entry(rel, rel_dir, name, st.st_size, st.st_mtime_ns))
    return out


def walk(
    spool: Path,
    top: str,
    looks_like_recording: Callable[[str], bool],
    on_error: Callable[[str, OSError], None],
) -> Iterator[tuple[str, Listing]]:
    """Every folder under `top` (itself included), depth first in name order."""
    stack = [top]
    while stack:
        rel_dir = stack.pop()
        try:
            listing = list_folder(spool, rel_dir, looks_like_recording)
        except OSError as exc:
            on_error(rel_dir, exc)
            continue
        stack.extend(sorted(listing.subdirs, reverse=True))
        yield rel_dir, listing


def walk_folders(spool: Path, top: str, looks_like_recording: Callable[[str], bool]) -> Iterator[str]:
    """The folders `walk` visits, in the same order, without looking at their files (so that the
    indexer can hand folders out in that order before they are listed in full)."""
    stack = [top]
    while stack:
        rel_dir = stack.pop()
        yield rel_dir
        subdirs: list[str] = []
        try:
            with os.scandir(spool / rel_dir if rel_dir else spool) as it:
                for entry in it:
                    try:
                        if not entry.is_dir(follow_symlinks=False):
                            continue
                    except OSError:
                        continue
                    if _folder_skip(entry.name, looks_like_recording) not in (
                        SkipReason.HIDDEN,
                        SkipReason.BAD_ENCODING,
                    ):
                        subdirs.append(join(rel_dir, entry.name))
        except OSError:
            continue  # gone or unreadable: its listing says so
        stack.extend(sorted(subdirs, reverse=True))


def relative(spool: Path, path: str) -> str | None:
    """The spool-relative form of an absolute path from a watch event; None outside the spool."""
    rel = os.path.relpath(path, spool)
    if rel == "." or rel == ".." or rel.startswith(".." + os.sep):
        return None
    return rel.replace(os.sep, "/")


def look(spool: Path, rel: str, looks_like_recording: Callable[[str], bool]) -> Looked:
    """What a path named by a watch event is now."""
    parts = rel.split("/")
    if any(skip_reason_for_name(p) in (SkipReason.HIDDEN, SkipReason.BAD_ENCODING) for p in parts[:-1]):
        return Looked(ignored=True)
    rel_dir, _, name = rel.rpartition("/")
    try:
        st = os.lstat(spool / rel)
    except FileNotFoundError:
        return Looked(gone=True)
    except OSError:
        return Looked(ignored=True)
    if stat.S_ISDIR(st.st_mode):
        reason = _folder_skip(name, looks_like_recording)
        if reason is SkipReason.HIDDEN:
            return Looked(ignored=True)
        return Looked(folder=True, skip=reason)
    reason = skip_reason_for_name(name)
    if reason is not None:
        return Looked(skip=reason)
    if not stat.S_ISREG(st.st_mode):
        return Looked(skip=SkipReason.NOT_REGULAR)
    return Looked(entry=Entry(rel, rel_dir, name, st.st_size, st.st_mtime_ns))
