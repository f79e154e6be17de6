"""Regenerate the committed sample spool and its manifest (developer tool).

Needs espeak-ng and sox (`apt-get install espeak-ng sox libsox-fmt-all`):

    python -m demo_data.make_samples

Audio is synthetic speech or tones; 8 kHz mono. Output bytes depend on the tool versions.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from demo_data import SAMPLE_MANIFEST, SAMPLE_SPOOL
from demo_data.calls import JST, SYSTEM_NAME, Call, recording_path, uniqueid
from demo_data.synth import wav_header


@dataclass(frozen=True)
class Sample:
    """One sample recording to make: naming fields, audio and the cases it covers."""

    type: str  # as named; "" for a conference (<room>-<room>-always-...)
    first: str
    second: str
    when: str  # Japan time in the name, "YYYY-MM-DD HH:MM:SS"
    party: str  # kind of the other party's number
    audio: str  # "ja:<text>", "en:<text>", "tone:<sox synth args>" or "none"
    cases: tuple[str, ...] = ()
    fmt: str = "wav"
    seq: int = 1
    system: bool = False
    next_day_folder: bool = False
    city: str = "first"  # which field is the city's side: first, second or room (written by hand,
    # from the recorder-truth table, so the parser is checked against it rather than itself)
    uid: str | None = None  # a uniqueid as on-demand rewrites it (1.7, 01.city)
    epoch: bool = False  # ConfBridge on Asterisk < 14 appends the epoch to conference names


S = Sample
SAMPLES: tuple[Sample, ...] = (
    S(
        "in",
        "0488291111",
        "0488291234",
        "2026-09-07 09:15:12",
        "landline",
        "ja:おでんわ ありがとう ございます。さいたまし コールセンター です。",
        ("type:in",),
    ),
    S(
        "in",
        "0488291111",
        "09012345678",
        "2026-09-14 10:02:45",
        "mobile",
        "ja:ごみの しゅうしゅうび を おしえて ください。",
    ),
    S(
        "in",
        "0488291112",
        "08011112222",
        "2026-09-18 13:30:05",
        "mobile",
        "ja:こそだて しえん の まどぐち は どこ ですか。",
        ("dest:second-did",),
    ),
    S(
        "in",
        "0488291111",
        "0312345678",
        "2026-09-24 11:11:11",
        "landline",
        "ja:じゅうみんひょう の うつし が ほしい のですが。",
    ),
    S(
        "in",
        "0488291111",
        "0120123456",
        "2026-09-29 15:40:20",
        "toll-free",
        "ja:しょうしょう おまち ください。",
    ),
    S(
        "in",
        "0488291111",
        "+819012345678",
        "2026-10-01 09:05:33",
        "plus81",
        "ja:かいがい から かけて います。",
    ),
    S(
        "in",
        "0488291111",
        "+12025550123",
        "2026-10-02 16:20:00",
        "foreign",
        "en:Hello, I would like to ask about residence registration.",
    ),
    S(
        "in",
        "0488291111",
        "anonymous",
        "2026-10-05 10:12:08",
        "anonymous",
        "ja:なまえ は いいたく ありません。",
    ),
    S("in", "0488291111", "unknown", "2026-10-05 10:13:40", "unknown", "ja:もしもし、きこえますか。"),
    S("in", "0488291111", "", "2026-10-05 10:15:00", "empty", "ja:どうろ の あな に ついて です。", seq=12),
    S(
        "out",
        "09012345678",
        "2001",
        "2026-10-06 14:00:10",
        "mobile",
        "ja:さいたまし コールセンター の ものです。おりかえし おでんわ しました。",
        ("type:out",),
        city="second",
    ),
    S(
        "out",
        "0312345678",
        "2002",
        "2026-10-08 11:45:30",
        "landline",
        "ja:けんとう して ごれんらく いたします。",
        city="second",
    ),
    S(
        "out",
        "0120123456",
        "2001",
        "2026-10-09 09:31:00",
        "toll-free",
        "tone:2.0 sine 425 gain -12",
        city="second",
    ),
    S(
        "out",
        "01012025550123",
        "2003",
        "2026-10-13 17:02:44",
        "international-dialled",
        "en:This is the Saitama City call centre returning your call.",
        city="second",
    ),
    S(
        "external",
        "2003",
        "0488291234",
        "2026-10-14 10:10:10",
        "landline",
        "ja:くやくしょ に おつなぎ します。",
        ("type:external",),
    ),
    S(
        "external",
        "2004",
        "08011112222",
        "2026-10-15 13:13:13",
        "mobile",
        "ja:たんとう の ものに かわります。",
    ),
    S(
        "internal",
        "2002",
        "2001",
        "2026-10-16 12:01:02",
        "extension",
        "ja:ないせん です。すこし よろしい ですか。",
        ("type:internal",),
        city="second",
    ),
    S(
        "q",
        "600",
        "0488291234",
        "2026-10-19 09:00:45",
        "landline",
        "ja:ただいま でんわ が こみあって おります。",
        ("type:q",),
    ),
    S(
        "q",
        "601",
        "09012345678",
        "2026-10-20 10:30:15",
        "mobile",
        "ja:じゅんばん に おつなぎ します。",
        ("uniqueid:systemname",),
        seq=13,
        system=True,
    ),
    S(
        "rg",
        "700",
        "0312345678",
        "2026-10-21 15:15:15",
        "landline",
        "ja:ぜいきん の しはらい に ついて。",
        ("type:rg",),
    ),
    S(
        "parked",
        "71",
        "09012345678",
        "2026-10-22 11:22:33",
        "mobile",
        "tone:3.0 sine 440 sine 480 gain -15 tremolo 2 80",
        ("type:parked",),
    ),
    # The other forms FreePBX writes (the recorder-truth table), between 10-23 and 10-30.
    S(
        "in",
        "s",
        "09022223333",
        "2026-10-23 09:10:00",
        "mobile",
        "ja:だいひょう ばんごう に かけました。",
        ("did:s",),
    ),
    S(
        "in",
        "0488291111",
        "090-3333-4444",
        "2026-10-23 10:20:00",
        "dashed",
        "ja:ばんごう に ハイフン が あります。",
        ("source:dashed",),
    ),
    S(
        "in",
        "0488291111",
        "+810312345678",
        "2026-10-23 11:30:00",
        "plus81-trunk0",
        "ja:とうきょう から です。",
        ("source:plus81-trunk0",),
    ),
    S(
        "generic",
        "0488291111",
        "0312345678",
        "2026-10-26 09:00:00",
        "landline",
        "ja:はんよう の ろくおん です。",
        ("type:generic",),
    ),
    S(
        "generic",
        "",
        "2005",
        "2026-10-26 10:00:00",
        "empty",
        "ja:ないせん の はんよう ろくおん です。",
        ("generic:internal",),
        city="second",
    ),
    S(
        "ondemand",
        "0312345678",
        "2002",
        "2026-10-26 11:00:00",
        "landline",
        "ja:はっしん の とちゅう から ろくおん します。",
        ("ondemand:outbound",),
        city="second",
    ),
    S(
        "ondemand",
        "Unknown",
        "2003",
        "2026-10-26 12:00:00",
        "unknown",
        "ja:ピージェイシップ の かいせん です。",
        ("ondemand:unknown", "uniqueid:rewritten"),
        city="second",
        uid="1.7",
    ),
    S(
        "ondemand",
        "2004",
        "09044445555",
        "2026-10-26 13:00:00",
        "mobile",
        "ja:うけた がわ が ろくおん しました。",
        ("ondemand:callee", "uniqueid:rewritten"),
        uid="01.city",
    ),
    S(
        "",
        "800",
        "always",
        "2026-10-27 10:00:00",
        "none",
        "tone:3.0 sine 300 gain -15",
        ("type:conference",),
        city="room",
    ),
    S(
        "",
        "801",
        "always",
        "2026-10-27 14:00:00",
        "none",
        "tone:3.0 sine 350 gain -15",
        ("conference:epoch",),
        city="room",
        epoch=True,
    ),
    S(
        "conf",
        "802",
        "802",
        "2026-10-28 10:00:00",
        "none",
        "tone:3.0 sine 400 gain -15",
        ("type:conf",),
        city="room",
    ),
    S(
        "force",
        "2002",
        "0312345678",
        "2026-10-28 11:00:00",
        "landline",
        "ja:きょうせい ろくおん です。",
        ("type:force",),
    ),
    S(
        "page",
        "500",
        "2001",
        "2026-10-28 12:00:00",
        "extension",
        "ja:かんない ほうそう です。",
        ("type:page",),
    ),
    S(
        "parked",
        "unknown",
        "2005",
        "2026-10-29 09:00:00",
        "extension",
        "ja:ほりゅう を とりました。",
        ("parked:unknown",),
    ),
    S(
        "in",
        "0488291111",
        "0312345678",
        "2026-10-30 09:00:00",
        "landline",
        "ja:ユーロー の ろくおん です。",
        ("format:ulaw",),
        fmt="ulaw",
    ),
    S(
        "in",
        "0488291111",
        "09012345678",
        "2026-10-30 10:00:00",
        "mobile",
        "ja:エーロー の ろくおん です。",
        ("format:alaw",),
        fmt="alaw",
    ),
    S(
        "in",
        "0488291111",
        "0488291234",
        "2026-10-30 11:00:00",
        "landline",
        "ja:リニア の ろくおん です。",
        ("format:sln",),
        fmt="sln",
    ),
    S(
        "parked",
        "71",
        "08011112222",
        "2026-10-31 23:59:50",
        "mobile",
        "ja:おまたせ しました。",
        ("folder:next-day",),
        next_day_folder=True,
    ),
    S(
        "ondemand",
        "2001",
        "0488291234",
        "2026-11-04 14:44:44",
        "landline",
        "ja:ここから ろくおん します。",
        ("type:ondemand",),
    ),
    S(
        "exten",
        "2002",
        "0312345678",
        "2026-11-05 09:09:09",
        "landline",
        "ja:ないせん にせんに です。",
        ("type:exten",),
    ),
    S(
        "in",
        "0488291111",
        "0488291234",
        "2026-11-06 10:20:30",
        "landline",
        "ja:にど めの おでんわ です。",
        ("uniqueid:systemname",),
        seq=7,
        system=True,
    ),
    S(
        "in",
        "0488291111",
        "09012345678",
        "2026-11-09 11:00:00",
        "mobile",
        "ja:ほいくえん の もうしこみ に ついて。",
        ("format:WAV-wav49",),
        fmt="WAV",
    ),
    S(
        "in",
        "0488291111",
        "0312345678",
        "2026-11-10 13:50:05",
        "landline",
        "ja:ありがとう ございました。",
        ("format:gsm",),
        fmt="gsm",
    ),
    S("in", "0488291111", "08011112222", "2026-11-11 16:59:59", "mobile", "none", ("unanswered:44-bytes",)),
)


def _render(audio: str, out: Path, tmp: Path) -> None:
    """Write `audio` to `out` as 8 kHz mono, in the format given by its extension."""
    if audio == "none":
        out.write_bytes(wav_header(0))
        return
    kind, _, spec = audio.partition(":")
    raw = tmp / "raw.wav"
    if kind == "tone":
        subprocess.run(
            ["sox", "-V1", "-R", "-n", "-r", "8000", "-c", "1", "-b", "16", str(raw), "synth", *spec.split()],
            check=True,
        )
    else:
        voice = {"ja": "ja", "en": "en-us"}[kind]
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), spec], check=True)
    ext = out.suffix
    encode = {
        ".wav": ["-t", "wav", "-e", "signed-integer", "-b", "16"],
        ".WAV": ["-t", "wav", "-e", "gsm-full-rate"],
        ".gsm": ["-t", "gsm"],
        ".ulaw": ["-t", "ul"],
        ".alaw": ["-t", "al"],
        ".sln": ["-t", "raw", "-e", "signed-integer", "-b", "16"],
    }[ext]
    subprocess.run(
        ["sox", "-V1", "-R", str(raw), "-r", "8000", "-c", "1", *encode, str(out), "trim", "0", "6"],
        check=True,
    )


def _duration(path: Path) -> float:
    """Seconds of audio, from the byte rate of the format (44-byte header => 0)."""
    size = path.stat().st_size
    if path.suffix == ".gsm":
        return round(size / 1650, 2)  # 33-byte frames of 160 samples at 8 kHz
    if path.suffix in (".ulaw", ".alaw"):
        return round(size / 8000, 2)  # a byte a sample at 8 kHz
    if path.suffix == ".sln":
        return round(size / 16000, 2)
    data = path.read_bytes()
    byte_rate = int.from_bytes(data[28:32], "little")
    pos = data.find(b"data")
    return round(int.from_bytes(data[pos + 4 : pos + 8], "little") / byte_rate, 2)


def build(spool: Path = SAMPLE_SPOOL, manifest: Path = SAMPLE_MANIFEST) -> list[dict[str, object]]:
    """Write every sample into `spool` and the manifest; return the manifest entries."""
    entries: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in SAMPLES:
            start = datetime.fromisoformat(s.when).replace(tzinfo=JST)
            epoch = int(start.timestamp())
            uid = s.uid or uniqueid(epoch, s.seq, SYSTEM_NAME if s.system else None)
            folder = start + timedelta(days=1) if s.next_day_folder else start
            rel = recording_path(
                Call(s.type, s.first, s.second),
                start,
                uid,
                s.fmt,
                folder,
                epoch=str(epoch) if s.epoch else "",
            )
            out = spool / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            _render(s.audio, out, Path(tmp))
            seconds = _duration(out)
            end = epoch + seconds
            os.utime(out, (end, end))
            kind = s.type or "conf"
            cases = [
                f"type:{kind}",
                f"party:{s.party}",
                f"format:{s.fmt}",
                "uniqueid:systemname" if s.system else "uniqueid:epoch",
                *s.cases,
            ]
            if s.uid:
                cases.remove("uniqueid:epoch")
            entries.append(
                {
                    "path": rel.as_posix(),
                    "type": kind,
                    "named_type": s.type,
                    "first": s.first,
                    "second": s.second,
                    "epoch": s.epoch,
                    "start": start.isoformat(),
                    "uniqueid": uid,
                    "format": s.fmt,
                    "city_side": s.city,
                    "other_party": s.party,
                    "duration_s": seconds,
                    "bytes": out.stat().st_size,
                    "audio": s.audio.partition(":")[0],
                    "cases": sorted(set(cases)),
                }
            )
    manifest.write_text(json.dumps({"files": entries}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return entries


if __name__ == "__main__":
    for entry in build():
        print(f"{entry['bytes']:>7}  {entry['path']}")
