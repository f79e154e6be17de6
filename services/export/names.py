"""Names of one file in the four directory trees of an image.

Rock Ridge carries the recording's own name unchanged (any name a Linux file can have). UDF carries it
too when it fits (253 Latin-1 or 126 UTF-16 characters); Joliet only has room for 64 characters
(pycdlib counts them in UTF-8 bytes) and forbids a few; plain ISO 9660 has 8.3-like upper-case names.
Where a tree cannot hold the name, it gets a shortened, unique one; the JSON manifest on the medium
lists every tree's name for every file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_ISO_BAD = re.compile(r"[^A-Z0-9_]")
_JOLIET_BAD = re.compile(r"[\x00-\x1f*/:;?\\\U00010000-\U0010ffff]")
ISO_STEM = 26
ISO_EXT = 3
ISO_DIR = 30
JOLIET_BYTES = 64
UDF_LATIN1 = 253
UDF_UTF16 = 126


@dataclass(frozen=True)
class TreeNames:
    """Absolute paths of one entry in each tree (rr is the Rock Ridge path, the true name)."""

    rr: str
    iso: str
    joliet: str
    udf: str

    @property
    def rr_name(self) -> str:
        return self.rr.rpartition("/")[2]


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, ext


def _iso_candidates(name: str, is_dir: bool, hint: str | None) -> Iterable[str]:
    if is_dir:
        base = _ISO_BAD.sub("_", name.upper())[:ISO_DIR] or "D"
        yield base
        for n in range(1, 1_000_000):
            suffix = f"_{n}"
            yield base[: ISO_DIR - len(suffix)] + suffix
        return
    stem, ext = _split_ext(hint or name)
    stem = _ISO_BAD.sub("_", stem.upper())[:ISO_STEM]
    ext = _ISO_BAD.sub("_", ext.upper())[:ISO_EXT]
    if not stem.strip("_"):
        stem = "F"
    yield f"{stem}.{ext};1"
    for n in range(1, 1_000_000):
        suffix = f"_{n}"
        yield f"{stem[: ISO_STEM - len(suffix)]}{suffix}.{ext};1"


def _fit_bytes(text: str, limit: int, encoding: str = "utf-8") -> str:
    """The longest prefix of text whose encoding is at most `limit` bytes."""
    out = text
    while len(out.encode(encoding)) > limit:
        out = out[:-1]
    return out


def _joliet_candidates(name: str) -> Iterable[str]:
    clean = _JOLIET_BAD.sub("_", name)
    if len(clean.encode()) <= JOLIET_BYTES:
        yield clean
    stem, ext = _split_ext(clean)
    ext = f".{ext}" if ext and len(ext.encode()) <= 8 else ""
    for n in range(1, 1_000_000):
        suffix = f"~{n}{ext}"
        yield _fit_bytes(stem, JOLIET_BYTES - len(suffix.encode())) + suffix


def udf_fits(name: str) -> bool:
    try:
        return len(name.encode("latin-1")) <= UDF_LATIN1
    except UnicodeEncodeError:
        return len(name.encode("utf-16-be")) // 2 <= UDF_UTF16


def _udf_candidates(name: str) -> Iterable[str]:
    if udf_fits(name):
        yield name
    stem, ext = _split_ext(name)
    ext = f".{ext}" if ext and len(ext) <= 8 else ""
    for n in range(1, 1_000_000):
        suffix = f"~{n}{ext}"
        cut = stem
        while not udf_fits(cut + suffix):
            cut = cut[:-1]
        yield cut + suffix


def _first_free(candidates: Iterable[str], used: set[str]) -> str:
    for c in candidates:
        if c.casefold() not in used:
            used.add(c.casefold())
            return c
    raise AssertionError("unreachable: a million candidates taken")


class Namer:
    """Assigns each path (a '/'-separated relative path, directories first) its tree names."""

    def __init__(self) -> None:
        self._names: dict[str, TreeNames] = {"": TreeNames("", "", "", "")}
        self._used: dict[tuple[str, str], set[str]] = {}

    def _used_in(self, parent: str, tree: str) -> set[str]:
        return self._used.setdefault((parent, tree), set())

    def add(self, path: str, *, is_dir: bool, iso_hint: str | None = None) -> TreeNames:
        if path in self._names:
            return self._names[path]
        parent_path, _, name = path.rpartition("/")
        parent = self._names[parent_path] if parent_path else self._names[""]
        iso = _first_free(_iso_candidates(name, is_dir, iso_hint), self._used_in(parent_path, "iso"))
        joliet = _first_free(_joliet_candidates(name), self._used_in(parent_path, "joliet"))
        udf = _first_free(_udf_candidates(name), self._used_in(parent_path, "udf"))
        names = TreeNames(
            f"{parent.rr}/{name}", f"{parent.iso}/{iso}", f"{parent.joliet}/{joliet}", f"{parent.udf}/{udf}"
        )
        self._names[path] = names
        return names

    def get(self, path: str) -> TreeNames:
        return self._names[path]
