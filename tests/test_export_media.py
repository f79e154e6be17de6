"""Media: capacity, split across numbered discs, burning to xorriso pseudo-drives, USB folders."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import pytest

from services.calls import Call
from services.core.clock import JST
from services.core.errors import CallrecError, StorageError
from services.export import Cancelled, CancelToken, Exports
from services.export.burn import BurnError
from services.export.media import MEDIA_SPECS, SECTOR, MediumSpec
from services.export.plan import MANIFEST, README, pack
from services.workspace import Workspace
from tests.support.export import (
    extract,
    indexed_series,
    leftovers,
    manager,
    needs_xorriso,
    operator,
    sha256sum_check,
    tmpfs,
    tree_files,
)

pytestmark = needs_xorriso


@pytest.fixture
async def calls(ws: Workspace) -> list:
    return await indexed_series(ws, 6, 400_000, "2026100")


def small_discs(ws: Workspace, sectors: int) -> Exports:
    """The same service with a CD-R that holds `sectors` sectors: packing and splitting decided
    by the real layout, at a size the tests can afford."""
    specs = dict(MEDIA_SPECS) | {"cd-r": MediumSpec("cd-r", "CD-R", sectors)}
    return Exports(ws.db, ws.audit, ws.clock, ws.calls, ws.instructions, ws.config, specs)


async def issue(ws: Workspace, calls: list, medium: str) -> str:
    ins = await ws.instructions.issue_export(
        await manager(ws), purpose="undue-pressure", medium=medium, call_ids=[c.id for c in calls]
    )
    return ins.number


async def test_too_big_for_one_disc_is_refused_with_figures(
    ws: Workspace, calls: list, tmp_path: Path
) -> None:
    number = await issue(ws, calls, "cd-r")
    exports = small_discs(ws, 1200)  # about 2.1 MB of image per disc
    with pytest.raises(CallrecError) as err:
        await exports.prepare(await operator(ws), number, exports.target(out=str(tmp_path / "o.iso")))
    assert err.value.code == "needs_split"
    assert "MB" in err.value.message and "--split" in err.value.message
    assert err.value.params["needed"] > err.value.params["capacity"]
    assert leftovers(tmp_path) == ["config.toml", "data", "spool"]


async def test_split_across_numbered_self_contained_discs(
    ws: Workspace, calls: list, tmp_path: Path, spool: Path
) -> None:
    number = await issue(ws, calls, "cd-r")
    exports = small_discs(ws, 1200)
    op = await operator(ws)
    plan = await exports.prepare(op, number, exports.target(out=str(tmp_path / "o.iso")), split=True)
    n = len(plan.volumes)
    assert n >= 2 and all(v.size <= plan.capacity for v in plan.volumes)
    record = await exports.run(op, plan)
    assert [m.seq for m in record.media] == list(range(1, n + 1))
    seen: list[int] = []
    for seq in range(1, n + 1):
        image = tmp_path / f"o-{seq}of{n}.iso"
        assert image.stat().st_size <= 1200 * SECTOR
        x = extract(image, tmp_path / f"x{seq}")
        assert sha256sum_check(x).returncode == 0  # each disc checks by itself
        doc = json.loads((x / MANIFEST).read_text())
        assert doc["volume"] == doc["volume"] | {"seq": seq, "count": n}
        assert [v["calls"] for v in doc["volumes"]] == [[c.id for c in v.calls] for v in plan.volumes]
        assert f"{n}枚のうち{seq}枚目" in (x / README).read_text()
        for c in doc["calls"]:
            assert (x / c["file"]).read_bytes() == (spool / c["spool_path"]).read_bytes()
            seen.append(c["id"])
    assert seen == [c.id for c in calls]  # every call once, in recording order


async def test_a_recording_larger_than_a_disc_is_refused(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls[:1], "cd-r")
    exports = small_discs(ws, 300)  # 600 KB per disc; the recording is 400 KB + documents
    with pytest.raises(CallrecError) as err:
        await exports.prepare(
            await operator(ws), number, exports.target(out=str(tmp_path / "o.iso")), split=True
        )
    assert err.value.code == "call_too_large" and "KB" in err.value.message


def test_real_capacities() -> None:
    """The figures of the media named in 様式第1号, and what fits on them."""

    def call(size: int) -> Call:
        return Call(
            1,
            "2026/10/01/x.wav",
            datetime(2026, 10, 1, tzinfo=JST),
            "in",
            None,
            None,
            "unavailable",
            "x",
            "wav",
            size,
            0,
            None,
            "0" * 64,
            "complete",
            date(2026, 11, 30),
        )

    assert 700_000_000 < MEDIA_SPECS["cd-r"].capacity < 737_280_000
    assert 4_700_000_000 < MEDIA_SPECS["dvd-r"].capacity < 4_707_319_808
    assert 8_500_000_000 < MEDIA_SPECS["dvd-r-dl"].capacity < 8_543_666_176
    assert 25_000_000_000 < MEDIA_SPECS["bd-r"].capacity < 25_025_314_816
    with pytest.raises(CallrecError) as err:
        pack([call(750_000_000)], MEDIA_SPECS["cd-r"].capacity)
    assert err.value.code == "call_too_large" and "MB" in err.value.message
    assert len(pack([call(300_000_000)] * 5, MEDIA_SPECS["cd-r"].capacity)) == 3
    assert len(pack([call(300_000_000)] * 5, MEDIA_SPECS["dvd-r"].capacity)) == 1
    assert len(pack([call(4_000_000_000)] * 5, MEDIA_SPECS["bd-r"].capacity)) == 1
    assert len(pack([call(4_000_000_000)] * 7, MEDIA_SPECS["bd-r"].capacity)) == 2


async def test_burn_to_a_pseudo_drive_and_read_back(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls[:2], "dvd-r")
    disc = tmp_path / "disc.img"
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, ws.exports.target(device=f"stdio:{disc}"))
    record = await ws.exports.run(op, plan)
    medium = record.media[0]
    with open(disc, "rb") as fh:  # exactly the image's sectors, then xorriso's padding
        assert hashlib.sha256(fh.read(medium.size)).hexdigest() == medium.image_sha256
    x = extract(disc, tmp_path / "x")
    assert sha256sum_check(x).returncode == 0
    assert not list(ws.config.exports_dir.glob(".export-*"))  # the scratch image is gone
    # A used disc is refused, never blanked.
    other = await issue(ws, calls[2:3], "dvd-r")
    with pytest.raises(CallrecError) as err:
        await ws.exports.prepare(op, other, ws.exports.target(device=f"stdio:{disc}"))
    assert err.value.code == "medium_not_blank"


async def test_burn_split_changing_discs(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls, "cd-r")
    exports = small_discs(ws, 1200)
    disc = tmp_path / "drive.img"
    op = await operator(ws)
    changes: list[tuple[int, int]] = []

    async def change_medium(seq: int, count: int, device: str) -> bool:
        disc.rename(tmp_path / f"taken-out-{seq - 1}.img")  # the written disc leaves the drive
        changes.append((seq, count))
        return True

    plan = await exports.prepare(
        op, number, exports.target(device=f"stdio:{disc}"), split=True, can_change_medium=True
    )
    record = await exports.run(op, plan, change_medium=change_medium)
    n = len(record.media)
    assert changes == [(seq, n) for seq in range(2, n + 1)]
    discs = [*(tmp_path / f"taken-out-{i}.img" for i in range(1, n)), disc]
    for m, d in zip(record.media, discs, strict=True):
        with open(d, "rb") as fh:
            assert hashlib.sha256(fh.read(m.size)).hexdigest() == m.image_sha256


async def test_pseudo_drive_in_a_missing_folder(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls[:1], "dvd-r")
    with pytest.raises(StorageError) as err:
        await ws.exports.prepare(
            await operator(ws), number, ws.exports.target(device=f"stdio:{tmp_path}/none/d.img")
        )
    assert "\n" not in err.value.message and "none" in err.value.message


async def test_a_drive_that_is_not_there(ws: Workspace, calls: list) -> None:
    """No such device (unplugged, or media.device set wrong): one line naming it, before anything."""
    number = await issue(ws, calls[:1], "dvd-r")
    with pytest.raises(StorageError) as err:
        await ws.exports.prepare(
            await operator(ws), number, ws.exports.target(device="/dev/callrec-no-such-drive")
        )
    assert err.value.code == "drive_missing" and "\n" not in err.value.message
    assert "/dev/callrec-no-such-drive" in err.value.message
    assert list(ws.config.exports_dir.glob("*.partial")) == []


async def test_burn_failure_removes_the_scratch_image(ws: Workspace, calls: list, tmp_path: Path) -> None:
    """The drive goes away between the check and the burn: one line, nothing left, given back."""
    number = await issue(ws, calls[:1], "dvd-r")
    folder = tmp_path / "drive"
    folder.mkdir()
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, ws.exports.target(device=f"stdio:{folder}/d.img"))
    folder.rmdir()
    with pytest.raises((BurnError, StorageError)):
        await ws.exports.run(op, plan)
    assert not list(ws.config.exports_dir.glob(".export-*"))
    assert (await ws.instructions.get(number)).state == "issued"


class CancelledOnceBurning(CancelToken):
    """The operator presses cancel once the burn has begun (the pseudo-disc exists)."""

    def __init__(self, disc: Path) -> None:
        super().__init__()
        self.disc = disc

    def check(self) -> None:
        if self.disc.exists():
            self.cancel()
        super().check()


async def test_cancel_while_burning_leaves_no_half_disc(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls[:2], "dvd-r")
    disc = tmp_path / "disc.img"
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, ws.exports.target(device=f"stdio:{disc}"))
    token = CancelledOnceBurning(disc)
    with pytest.raises(Cancelled):
        await ws.exports.run(op, plan, cancel=token)
    assert token.cancelled and not disc.exists()
    assert not list(ws.config.exports_dir.glob(".export-*"))
    assert (await ws.instructions.get(number)).state == "issued"


async def test_usb_folder(ws: Workspace, calls: list, tmp_path: Path, spool: Path) -> None:
    number = await issue(ws, calls[:3], "usb")
    stick = tmp_path / "stick"
    stick.mkdir()
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, ws.exports.target(folder=str(stick)))
    record = await ws.exports.run(op, plan)
    root = stick / f"callrec-{number}"
    assert leftovers(stick) == [root.name]
    assert sha256sum_check(root).returncode == 0
    for c in calls[:3]:
        assert (root / "recordings" / c.path).read_bytes() == (spool / c.path).read_bytes()
    assert record.media[0].files == len(tree_files(root))
    other = await issue(ws, calls[:1], "usb")
    (stick / f"callrec-{other}").mkdir()  # something of that name is there already
    with pytest.raises(CallrecError) as err:
        await ws.exports.prepare(op, other, ws.exports.target(folder=str(stick)))
    assert err.value.code == "destination_exists"


async def test_usb_folder_full_or_read_only(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls, "usb")
    op = await operator(ws)
    with tmpfs(tmp_path / "small", "1m") as small:
        with pytest.raises(StorageError) as err:
            await ws.exports.prepare(op, number, ws.exports.target(folder=str(small)))
        assert err.value.code == "destination_full" and leftovers(small) == []
    with tmpfs(tmp_path / "ro", "8m", readonly=True) as ro:
        with pytest.raises(StorageError) as err:
            await ws.exports.prepare(op, number, ws.exports.target(folder=str(ro)))
        assert err.value.code == "destination_readonly"
    with pytest.raises(StorageError) as err:
        await ws.exports.prepare(op, number, ws.exports.target(folder=str(tmp_path / "unplugged")))
    assert err.value.code == "destination_missing"
