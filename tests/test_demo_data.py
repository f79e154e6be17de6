"""The sample spool, the synthetic spool generator, the demo spool builder and the recorder."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import struct
import wave
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from demo_data import SAMPLE_MANIFEST, SAMPLE_SPOOL
from demo_data.recorder import simulate_recorder
from demo_data.redate import build_demo_spool, load_samples, months_before
from demo_data.synth import generate_spool, main, wav_header

JST = ZoneInfo("Asia/Tokyo")
TYPES = {"in", "out", "internal", "external", "q", "rg", "parked", "ondemand", "exten"}  # synthetic
SAMPLE_TYPES = TYPES | {"generic", "conf", "force", "page"}
# Written independently of services/indexing/layouts.py: the recorder-truth table's two name shapes.
NAME = re.compile(
    r"^(?:(?P<type>in|out|internal|external|q|rg|generic|parked|ondemand|conf|exten|force|page)"
    r"-(?P<dest>[0-9+]*|s|Unknown|unknown)-(?P<source>[0-9+-]*|anonymous|unknown)"
    r"|(?P<room>8\d\d)-(?P=room)-always)"
    r"-(?P<date>\d{8})-(?P<time>\d{6})"
    r"-(?P<uniqueid>(?:[A-Za-z0-9-]+-)?\d{9,10}\.\d+|1\.7|01\.city)(?:-\d{10})?"
    r"\.(?P<fmt>wav|WAV|gsm|ulaw|alaw|sln)$"
)
REQUIRED_CASES = (
    {f"type:{t}" for t in SAMPLE_TYPES}
    | {
        "did:s",
        "source:dashed",
        "source:plus81-trunk0",
        "generic:internal",
        "ondemand:outbound",
        "ondemand:unknown",
        "ondemand:callee",
        "uniqueid:rewritten",
        "type:conference",
        "conference:epoch",
        "parked:unknown",
        "format:ulaw",
        "format:alaw",
        "format:sln",
    }
    | {
        "party:landline",
        "party:mobile",
        "party:toll-free",
        "party:plus81",
        "party:foreign",
        "party:anonymous",
        "party:unknown",
        "party:empty",
        "party:international-dialled",
        "party:extension",
        "uniqueid:epoch",
        "uniqueid:systemname",
        "format:wav",
        "format:WAV",
        "format:gsm",
        "unanswered:44-bytes",
        "folder:next-day",
    }
)
SOURCE_SHAPES = {
    "anonymous": r"anonymous",
    "unknown": r"[Uu]nknown",
    "empty": r"",
    "plus81": r"\+81\d{9,10}",
    "foreign": r"\+1\d{10}",
    "landline": r"0[1-9]\d{8}",
    "mobile": r"0[789]0\d{8}",
    "toll-free": r"0120\d{6}",
    "extension": r"\d{2,4}",
    "international-dialled": r"010\d{8,13}",
    "dashed": r"0\d0-\d{4}-\d{4}",
    "plus81-trunk0": r"\+810\d{9}",
    "none": r"always|8\d\d",
}


def parse(path: Path, root: Path) -> re.Match[str]:
    """Check the FreePBX layout of `path` under `root` and return its name match."""
    rel = path.relative_to(root)
    assert len(rel.parts) == 4, rel
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", "/".join(rel.parts[:3])), rel
    m = NAME.match(rel.name)
    assert m, rel.name
    return m


def files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file())


def name_time(m: re.Match[str]) -> datetime:
    return datetime.strptime(m["date"] + m["time"], "%Y%m%d%H%M%S").replace(tzinfo=JST)


def check_pcm_wav(path: Path, *, grown: bool = True) -> int:
    """Assert a valid 8 kHz mono 16-bit PCM WAV with consistent sizes; return its frame count."""
    data = path.read_bytes()
    riff, riff_size, wave_id = struct.unpack("<4sI4s", data[:12])
    assert (riff, wave_id, riff_size) == (b"RIFF", b"WAVE", len(data) - 8), path
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getcomptype() == "NONE"
        frames = w.getnframes()
    assert 44 + frames * 2 == len(data), path
    if grown:
        assert frames > 0, path
    return frames


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


MANIFEST = json.loads(SAMPLE_MANIFEST.read_text(encoding="utf-8"))["files"]


# --- the committed sample spool -------------------------------------------------------------


def test_sample_names_follow_the_freepbx_layout() -> None:
    paths = list(files(SAMPLE_SPOOL))
    assert 40 <= len(paths) <= 50
    for path in paths:
        m = parse(path, SAMPLE_SPOOL)
        folder = date(*map(int, path.relative_to(SAMPLE_SPOOL).parts[:3]))
        assert folder - name_time(m).date() in (timedelta(0), timedelta(days=1))


def test_manifest_lists_exactly_the_sample_files() -> None:
    listed = {e["path"] for e in MANIFEST}
    on_disk = {p.relative_to(SAMPLE_SPOOL).as_posix() for p in files(SAMPLE_SPOOL)}
    assert listed == on_disk


def test_manifest_covers_every_case() -> None:
    covered = {c for e in MANIFEST for c in e["cases"]}
    assert covered >= REQUIRED_CASES, REQUIRED_CASES - covered


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["path"].rsplit("/", 1)[-1])
def test_manifest_entry_is_true(entry: dict[str, object]) -> None:
    path = SAMPLE_SPOOL / str(entry["path"])
    m = parse(path, SAMPLE_SPOOL)
    first, second = (m["room"], "always") if m["room"] else (m["dest"], m["source"])
    assert (m["type"] or "conf", first, second, m["uniqueid"], m["fmt"]) == (
        entry["type"],
        entry["first"],
        entry["second"],
        entry["uniqueid"],
        entry["format"],
    )
    assert path.stat().st_size == entry["bytes"]
    cases = set(entry["cases"])  # type: ignore[arg-type]
    other = {"first": second, "second": first, "room": second}[entry["city_side"]]
    assert re.fullmatch(SOURCE_SHAPES[str(entry["other_party"])], other), other
    if entry["city_side"] == "second":
        assert m["type"] in {"out", "internal", "generic", "ondemand"}
        assert re.fullmatch(r"\d{4}", second)
    folder = date(*map(int, path.relative_to(SAMPLE_SPOOL).parts[:3]))
    assert ("folder:next-day" in cases) == (folder != name_time(m).date())
    assert ("uniqueid:systemname" in cases) == ("-" in m["uniqueid"])
    assert name_time(m).isoformat() == entry["start"]


def test_pcm_samples_are_short_valid_wavs() -> None:
    pcm = [p for p in files(SAMPLE_SPOOL) if p.suffix == ".wav"]
    assert len(pcm) >= 20
    for path in pcm:
        if path.stat().st_size == 44:
            continue
        assert 1.0 <= check_pcm_wav(path) / 8000 <= 6.0, path


def test_unanswered_call_is_a_bare_44_byte_header() -> None:
    (entry,) = [e for e in MANIFEST if "unanswered:44-bytes" in e["cases"]]
    path = SAMPLE_SPOOL / entry["path"]
    assert path.read_bytes() == wav_header(0)
    assert check_pcm_wav(path, grown=False) == 0


def test_wav49_sample_is_gsm_in_a_wave_container() -> None:
    (entry,) = [e for e in MANIFEST if e["format"] == "WAV"]
    data = (SAMPLE_SPOOL / entry["path"]).read_bytes()
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    tag, channels, rate = struct.unpack("<HHI", data[20:28])
    assert (tag, channels, rate) == (0x31, 1, 8000)


def test_raw_gsm_sample_is_whole_frames() -> None:
    (entry,) = [e for e in MANIFEST if e["format"] == "gsm"]
    data = (SAMPLE_SPOOL / entry["path"]).read_bytes()
    assert data and len(data) % 33 == 0
    assert all(data[i] >> 4 == 0xD for i in range(0, len(data), 33))  # GSM 06.10 frame magic


def test_sample_spool_is_small() -> None:
    assert sum(p.stat().st_size for p in files(SAMPLE_SPOOL)) < 2_000_000


# --- synthetic spools -------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=50_000).map(lambda n: n * 2))
def test_wav_header_reads_back(data_bytes: int) -> None:
    header = wav_header(data_bytes)
    assert len(header) == 44
    assert struct.unpack("<I", header[4:8])[0] == 36 + data_bytes
    assert struct.unpack("<I", header[40:44])[0] == data_bytes


def test_generate_spool(tmp_path: Path) -> None:
    start = datetime(2026, 9, 1)
    assert generate_spool(tmp_path, 2000, start=start, span_days=30, seed=7, size=256) == 2000
    paths = list(files(tmp_path))
    assert len(paths) == 2000
    matches = [parse(p, tmp_path) for p in paths]
    assert len({m["uniqueid"] for m in matches}) == 2000
    assert {m["type"] for m in matches} == TYPES
    assert {"anonymous", "unknown", ""} <= {m["source"] for m in matches}
    assert any("-" in m["uniqueid"] for m in matches)
    days = {name_time(m).date() for m in matches}
    assert min(days) >= date(2026, 9, 1) and max(days) <= date(2026, 9, 30)
    assert len(days) > 20
    assert len({sha(p) for p in paths}) == 2000
    for path in paths[:50]:
        assert path.stat().st_size == 256
        assert check_pcm_wav(path) == (256 - 44) // 2


def test_generate_spool_is_deterministic(tmp_path: Path) -> None:
    start = datetime(2026, 9, 1, tzinfo=JST)
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate_spool(tmp_path / name, 200, start=start, seed=seed)
        runs[name] = {p.relative_to(tmp_path / name): sha(p) for p in files(tmp_path / name)}
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_generate_spool_rejects_bad_arguments(tmp_path: Path) -> None:
    start = datetime(2026, 9, 1)
    for kwargs in ({"size": 43}, {"size": 101}, {"layout": "pattern"}, {"span_days": 0}):
        with pytest.raises(ValueError):
            generate_spool(tmp_path, 1, start=start, **kwargs)  # type: ignore[arg-type]


def test_synth_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--count", "25", "--seed", "1", "--size", "100"]) == 0
    assert len(list(files(tmp_path))) == 25
    assert "wrote 25" in capsys.readouterr().out
    assert main([str(tmp_path), "--count", "1", "--size", "7"]) == 2


# --- the demo spool ---------------------------------------------------------------------------

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=JST)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("demo")
    return root, build_demo_spool(root, TODAY, seed=0, now=NOW)


def test_demo_spool_spans_three_months_up_to_today(demo: tuple[Path, list[Path]]) -> None:
    root, paths = demo
    assert len(paths) == 150 and sorted(paths) == sorted(files(root))
    starts = [name_time(parse(p, root)) for p in paths]
    assert starts == sorted(starts)
    days = [s.date() for s in starts]
    assert min(days) == months_before(TODAY, 3) == date(2026, 8, 28)
    assert days.count(TODAY) >= 3
    past_retention = [d for d in days if d < date(2026, 10, 1)]  # kept through 10-31: purgeable now
    assert len(past_retention) >= 10
    assert len(set(days)) > 40
    for path, start in zip(paths, starts, strict=True):
        assert start.timestamp() <= path.stat().st_mtime <= NOW.timestamp()
        assert path.stat().st_mtime - start.timestamp() <= 6.1


def test_demo_spool_covers_every_sample_byte_for_byte(demo: tuple[Path, list[Path]]) -> None:
    root, paths = demo
    samples = {sha(s.path): s for s in load_samples()}
    got = [sha(p) for p in paths]
    assert set(got) == set(samples)
    matches = [parse(p, root) for p in paths]
    assert {m["type"] or "conf" for m in matches} == SAMPLE_TYPES
    assert {m["fmt"] for m in matches} == {"wav", "WAV", "gsm", "ulaw", "alaw", "sln"}
    sources = {m["source"] for m in matches}
    assert {"anonymous", "unknown", "", "+819012345678", "+12025550123", "0120123456"} <= sources
    assert any("-" in m["uniqueid"] for m in matches)
    assert len({m["uniqueid"] for m in matches}) == len(paths)
    assert any(p.stat().st_size == 44 for p in paths)
    unparked = [p for p, m in zip(paths, matches, strict=True) if p.parent.name != m["date"][6:8]]
    assert unparked and all(name_time(parse(p, root)).time().hour == 23 for p in unparked)


def test_demo_spool_is_deterministic(tmp_path: Path, demo: tuple[Path, list[Path]]) -> None:
    root, paths = demo
    again = build_demo_spool(tmp_path / "a", TODAY, seed=0, now=NOW)
    assert [p.relative_to(tmp_path / "a") for p in again] == [p.relative_to(root) for p in paths]
    other = build_demo_spool(tmp_path / "b", TODAY, seed=1, now=NOW)
    assert [p.relative_to(tmp_path / "b") for p in other] != [p.relative_to(root) for p in paths]


def test_demo_spool_never_ends_after_now(tmp_path: Path) -> None:
    early = datetime(2026, 11, 28, 7, 5, tzinfo=JST)
    paths = build_demo_spool(tmp_path, TODAY, seed=2, calls=60, now=early)
    assert len(paths) == 60
    assert max(p.stat().st_mtime for p in paths) <= early.timestamp()
    with pytest.raises(ValueError):
        build_demo_spool(tmp_path / "x", TODAY + timedelta(days=1), now=early)


def test_months_before_clamps_to_month_end() -> None:
    assert months_before(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert months_before(date(2026, 1, 15), 3) == date(2025, 10, 15)
    assert months_before(date(2024, 5, 30), 3) == date(2024, 2, 29)


# --- the simulated recorder -------------------------------------------------------------------


async def test_recorder_grows_files_that_end_as_valid_wavs(tmp_path: Path) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        simulate_recorder(tmp_path, interval=0.5, duration=(1.0, 1.2), stop=stop, rng_seed=1)
    )
    await asyncio.sleep(0.4)
    (first,) = list(files(tmp_path))
    sizes = [first.stat().st_size]
    for _ in range(3):
        await asyncio.sleep(0.25)
        sizes.append(first.stat().st_size)
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0] > 44
    assert first.read_bytes()[40:44] == bytes(4)  # sizes are written when the call ends
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.wait_for(task, 3)
    paths = list(files(tmp_path))
    assert len(paths) >= 3
    for path in paths:
        m = parse(path, tmp_path)
        assert path.parent.name == m["date"][6:8]
        assert abs(name_time(m).timestamp() - path.stat().st_ctime) < 5
        check_pcm_wav(path, grown=False)  # a call started just before the stop may be empty
    assert 1.0 <= check_pcm_wav(first) / 8000 <= 1.2 + 0.01


async def test_recorder_cancelled_mid_call_leaves_valid_files(tmp_path: Path) -> None:
    task = asyncio.create_task(simulate_recorder(tmp_path, interval=0.2, duration=(5.0, 6.0)))
    await asyncio.sleep(0.7)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    paths = list(files(tmp_path))
    assert len(paths) >= 3
    for path in paths:
        check_pcm_wav(path, grown=False)
