"""The demo's simulated recorder: new calls appear in the spool and grow while they last.

Like Asterisk, a recording starts as a WAV header with zero sizes, audio is appended while the call
lasts, and the header sizes are written when the call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import struct
import wave
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from demo_data import SAMPLE_SPOOL
from demo_data.calls import JST, SYSTEM_NAME, random_call, recording_path, uniqueid
from demo_data.synth import wav_header

RATE = 8000
BYTES_PER_SECOND = RATE * 2
CHUNK_SECONDS = 0.25  # one append of 4000 bytes: microseconds of event-loop time


def _load_audio(spool: Path = SAMPLE_SPOOL) -> bytes:
    """PCM frames of the sample .wav recordings, or a quiet tone when there are none."""
    parts: list[bytes] = []
    for path in sorted(spool.rglob("*.wav")):
        with contextlib.suppress(wave.Error, EOFError), wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (RATE, 2, 1):
                parts.append(w.readframes(w.getnframes()))
                parts.append(bytes(BYTES_PER_SECOND // 2))  # half a second of silence
    audio = b"".join(parts)
    if audio:
        return audio
    tone = (int(3000 * math.sin(2 * math.pi * 425 * i / RATE)) for i in range(RATE))
    return struct.pack(f"<{RATE}h", *tone)


def _open_new(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    f = path.open("xb")
    f.write(wav_header(0))
    f.flush()
    return f


def _finish(f: BinaryIO, data_bytes: int) -> None:
    """Write the final RIFF and data sizes, and close."""
    f.seek(4)
    f.write(struct.pack("<I", 36 + data_bytes))
    f.seek(40)
    f.write(struct.pack("<I", data_bytes))
    f.close()


async def _record_call(path: Path, seconds: float, audio: bytes, offset: int, stop: asyncio.Event) -> None:
    """Grow one recording in real time for `seconds`, then finish its header."""
    opening = asyncio.ensure_future(asyncio.to_thread(_open_new, path))
    try:
        f = await asyncio.shield(opening)
    except asyncio.CancelledError:
        (await opening).close()  # header only: reads as an unanswered call, still valid
        raise
    total = int(seconds * RATE) * 2
    written = 0
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        while written < total and not stop.is_set():
            await asyncio.sleep(CHUNK_SECONDS)
            target = min(total, int((loop.time() - began) * RATE) * 2)
            while written < target:  # small synchronous appends, from the audio loop
                pos = (offset + written) % len(audio)
                chunk = audio[pos : pos + min(target - written, len(audio) - pos)]
                f.write(chunk)
                written += len(chunk)
            f.flush()
    finally:
        _finish(f, written)


async def simulate_recorder(
    spool: Path,
    *,
    interval: float = 6.0,
    duration: tuple[float, float] = (3.0, 8.0),
    tz: ZoneInfo = JST,
    stop: asyncio.Event | None = None,
    rng_seed: int | None = None,
) -> None:
    """Start a call every `interval` seconds until `stop` is set or the task is cancelled.

    Calls may overlap; each one is a valid WAV file once it ends (also when stopped early).
    """
    rng = random.Random(rng_seed)
    stop = stop or asyncio.Event()
    audio = await asyncio.to_thread(_load_audio)
    calls: set[asyncio.Task[None]] = set()
    seq = rng.randrange(1, 500)
    try:
        while not stop.is_set():
            now = datetime.now(tz).replace(microsecond=0)
            system = SYSTEM_NAME if rng.random() < 0.1 else None
            uid = uniqueid(int(now.timestamp()), seq, system)
            path = spool / recording_path(random_call(rng), now, uid)
            seconds = rng.uniform(*duration)
            offset = rng.randrange(len(audio) // 2) * 2
            task = asyncio.create_task(_record_call(path, seconds, audio, offset, stop))
            calls.add(task)
            task.add_done_callback(calls.discard)
            seq += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        for task in list(calls):
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
