"""The copy under every export: recordings copied by the kernel, hashed as they stand in the output."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import pytest

from services.core.errors import CallrecError
from services.export.progress import Meter
from services.export.streams import FileSpec, HashPipe, SourceChanged, Span, write_all


def source(tmp_path: Path, name: str, size: int, seed: int = 0) -> FileSpec:
    data = hashlib.shake_256(f"{name}{seed}".encode()).digest(size) if size else b""
    path = tmp_path / name
    path.write_bytes(data)
    return FileSpec(f"recordings/{name}", size, hashlib.sha256(data).hexdigest(), source=path, call_id=seed)


def copy(specs: list[FileSpec], out: Path, block: int) -> tuple[HashPipe, list]:
    """What the writers do: read blocks, write them at the output's position, settle, finish."""
    fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
    meter = Meter(sum(s.size for s in specs))
    with HashPipe(backlog=3 * block) as pipe:
        readers = [s.reader(meter, pipe) for s in specs]
        try:
            for r in readers:
                r.seek(0)
                while data := r.read(block):
                    write_all(fd, data)
            pipe.settle()
            for r in readers:
                r.finish()
        finally:
            os.close(fd)
            for r in readers:
                r.close()
    return pipe, readers


def refuse_sendfile(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A filesystem whose driver cannot splice: sendfile fails with EINVAL."""
    calls: list[int] = []

    def sendfile(out: int, in_: int, offset: int, count: int) -> int:
        calls.append(count)
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "sendfile", sendfile)
    return calls


@pytest.mark.parametrize("kernel_copy", [True, False], ids=["sendfile", "by-hand"])
def test_recordings_copied_whole_and_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool
) -> None:
    refused = [] if kernel_copy else refuse_sendfile(monkeypatch)
    specs = [
        source(tmp_path, "a.wav", 300_001, 1),
        source(tmp_path, "empty.wav", 0, 2),
        source(tmp_path, "b.wav", 65_536, 3),
        FileSpec("README.txt", 5, hashlib.sha256(b"hello").hexdigest(), data=b"hello"),
    ]
    pipe, readers = copy(specs, tmp_path / "out", block=40_000)
    out = (tmp_path / "out").read_bytes()
    assert out == b"".join(s.source.read_bytes() if s.source else s.data for s in specs)
    assert all(r.verified for r in readers)
    assert pipe.sendfile is kernel_copy and (kernel_copy or refused == [40_000])


def test_a_read_hands_over_a_span_not_bytes(tmp_path: Path) -> None:
    spec = source(tmp_path, "a.wav", 10_000)
    with HashPipe() as pipe:
        reader = spec.reader(None, pipe)
        block = reader.read(4096)
        assert isinstance(block, Span) and len(block) == 4096 and block.offset == 0
        reader.close()


def test_a_recording_changed_since_indexing_is_refused(tmp_path: Path) -> None:
    spec = source(tmp_path, "a.wav", 200_000)
    data = bytearray(spec.source.read_bytes())
    data[150_000] ^= 1
    spec.source.write_bytes(bytes(data))
    with pytest.raises(SourceChanged) as err:
        copy([spec], tmp_path / "out", block=64_000)
    assert err.value.params["call_id"] == spec.call_id and "ingest hash" in err.value.message


def test_a_recording_cut_short_while_copying_is_refused(tmp_path: Path) -> None:
    spec = source(tmp_path, "a.wav", 200_000)
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        with HashPipe() as pipe:
            reader = spec.reader(None, pipe)
            write_all(fd, reader.read(64_000))
            os.truncate(spec.source, 100_000)  # the file shrinks under the copy
            with pytest.raises(SourceChanged) as err:
                write_all(fd, reader.read(64_000))
                write_all(fd, reader.read(64_000))
            assert "ended after 100000 of 200000" in err.value.message
    finally:
        os.close(fd)


def test_spans_must_be_written_in_order(tmp_path: Path) -> None:
    spec = source(tmp_path, "a.wav", 100_000)
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        with HashPipe() as pipe:
            reader = spec.reader(None, pipe)
            first, second = reader.read(50_000), reader.read(50_000)
            with pytest.raises(CallrecError) as err:
                write_all(fd, second)
            assert err.value.code == "export_incomplete"
            write_all(fd, first)
            reader.close()
    finally:
        os.close(fd)


def test_the_hash_is_of_what_landed_in_the_output(tmp_path: Path) -> None:
    """The hashing thread reads the output back: bytes that changed there after the copy (a bad
    page, a racing writer) fail the export although the source was right."""
    spec = source(tmp_path, "a.wav", 100_000)
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        with HashPipe() as pipe:
            hold = threading.Event()

            def wait() -> None:  # the hashing thread waits until the output is spoilt
                hold.wait(10)

            pipe.submit(wait, 0)
            write_all(fd, spec.reader(None, pipe).read(100_000))
            spoilt = bytes([spec.source.read_bytes()[99_999] ^ 0x80])
            os.pwrite(fd, spoilt, 99_999)
            hold.set()
            with pytest.raises(SourceChanged):
                pipe.settle()
    finally:
        os.close(fd)
