"""Reaching a file under the spool without following a symbolic link at any step (第4条6: a purge
or an export must not leave the spool). Standard library only: the purge's helper uses it too."""

from __future__ import annotations

import os


def open_folder(root_fd: int, folder: str) -> int:
    """A descriptor of `folder` ('/'-separated, relative; "" is the root itself), each part opened
    relative to its parent with O_NOFOLLOW: a part that is a symlink fails with ELOOP (ENOTDIR
    for a symlink to a file)."""
    fd = os.dup(root_fd)
    try:
        for part in folder.split("/") if folder else ():
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(root: str, rel: str) -> int:
    """A read-only, non-blocking descriptor of the file `rel` under the folder `root`, no part of
    the way a symlink (OSError ELOOP or ENOTDIR when one is)."""
    folder, _, name = rel.rpartition("/")
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        dir_fd = open_folder(root_fd, folder)
    finally:
        os.close(root_fd)
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
