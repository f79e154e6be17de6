"""Durations the indexer reads from a recording's header, without decoding the audio."""

from __future__ import annotations

import struct

import pytest

from demo_data import SAMPLE_SPOOL
from demo_data.synth import wav_header
from services.indexing.audioinfo import duration_seconds


def test_pcm_wav() -> None:
    assert duration_seconds(wav_header(16000), "wav", 44 + 16000) == 1.0
    assert duration_seconds(wav_header(16000), "WAV", 44 + 16000) == 1.0


def test_unanswered_call_is_zero_seconds() -> None:
    assert duration_seconds(wav_header(0), "wav", 44) == 0.0


def test_header_never_finished_counts_what_is_on_disk() -> None:
    for claimed in (0, 0xFFFFFFFF):
        head = wav_header(0)[:40] + struct.pack("<I", claimed)
        assert duration_seconds(head, "wav", 44 + 8000) == 0.5


def test_file_cut_short_counts_what_is_there() -> None:
    assert duration_seconds(wav_header(32000), "wav", 44 + 8000) == 0.5


def test_odd_bytes_do_not_make_a_sample() -> None:
    assert duration_seconds(wav_header(16001), "wav", 44 + 16001) == 1.0


def test_wav49_uses_the_fact_chunk() -> None:
    path = next(SAMPLE_SPOOL.rglob("*.WAV"))
    data = path.read_bytes()
    assert duration_seconds(data[:4096], "WAV", len(data)) == round(21614 / 8000, 3)  # fact: 21614 samples


def test_raw_gsm_counts_frames() -> None:
    assert duration_seconds(b"\xd0" * 33, "gsm", 33 * 50) == 1.0


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"", "wav"),
        (b"RIFX" + bytes(40), "wav"),
        (b"RIFF\x00\x00\x00\x00AVI " + bytes(32), "wav"),
        (wav_header(100), "mp3"),
        (wav_header(100)[:30], "wav"),
    ],
)
def test_unknown_or_damaged_is_none(head: bytes, fmt: str) -> None:
    assert duration_seconds(head, fmt, 1000) is None
