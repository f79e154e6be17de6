"""Duration from an audio file's header, without decoding (and without ever playing) the audio."""

from __future__ import annotations

import struct

_GSM_FRAME_BYTES = 33  # raw GSM 06.10: 33 bytes per 160 samples at 8 kHz
_GSM_FRAME_SECONDS = 0.02
# Headerless formats Asterisk writes, at 8 kHz: bytes a second.
_RAW_BYTE_RATES = {"ulaw": 8000, "alaw": 8000, "sln": 16000, "g729": 1000}


def duration_seconds(head: bytes, fmt: str, size: int) -> float | None:
    """Seconds of audio from the file's first bytes and size, or None when they do not say."""
    fmt = fmt.lower()
    if fmt == "gsm":
        return round(size // _GSM_FRAME_BYTES * _GSM_FRAME_SECONDS, 3)
    if fmt in ("wav", "wav49"):
        return _wav_duration(head, size)
    if fmt in _RAW_BYTE_RATES:
        return round(size / _RAW_BYTE_RATES[fmt], 3)
    return None


def _wav_duration(head: bytes, size: int) -> float | None:
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    byte_rate = 0
    block_align = 0
    fact_samples: int | None = None
    sample_rate = 0
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        chunk_size: int
        (chunk_size,) = struct.unpack_from("<I", head, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt " and body + 16 <= len(head):
            _tag, _channels, sample_rate, byte_rate, block_align = struct.unpack_from("<HHIIH", head, body)
        elif chunk_id == b"fact" and body + 4 <= len(head):
            (fact_samples,) = struct.unpack_from("<I", head, body)
        elif chunk_id == b"data":
            if byte_rate <= 0:
                return None
            on_disk = max(size - body, 0)
            if chunk_size in (0, 0xFFFFFFFF):
                # Sizes never written (a recorder that died, or one that streams): what is on
                # disk is the audio.
                chunk_size = on_disk
            # A header claiming more than is on disk: the file was cut short; count what is there.
            data_bytes = min(chunk_size, on_disk)
            if fact_samples is not None and sample_rate and chunk_size <= on_disk:
                return round(fact_samples / sample_rate, 3)
            if block_align:
                data_bytes -= data_bytes % block_align
            return round(data_bytes / byte_rate, 3)
        pos = body + chunk_size + (chunk_size & 1)
    return None
