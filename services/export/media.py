"""The media an instruction may name (様式第1号) and what each holds.

Capacities are the data sectors (2048 bytes) a blank disc reports to xorriso. A burn through
`xorriso -as cdrecord` pads each track with 150 sectors, so that much is kept free. A `usb` medium is
a folder: it holds what its filesystem has free.
"""

from __future__ import annotations

from dataclasses import dataclass

SECTOR = 2048
BURN_PAD_SECTORS = 150


@dataclass(frozen=True)
class MediumSpec:
    code: str
    label: str  # as printed on forms and screens
    sectors: int | None  # None: a folder, limited by its filesystem's free space

    @property
    def is_disc(self) -> bool:
        return self.sectors is not None

    @property
    def capacity(self) -> int:
        """Bytes an image may take on one blank disc of this kind."""
        if self.sectors is None:
            raise ValueError(f"{self.code} is not a disc")
        return (self.sectors - BURN_PAD_SECTORS) * SECTOR


MEDIA_SPECS: dict[str, MediumSpec] = {
    "cd-r": MediumSpec("cd-r", "CD-R", 359_846),  # 700 MB (80 min)
    "dvd-r": MediumSpec("dvd-r", "DVD-R", 2_298_496),  # 4.7 GB
    "dvd-r-dl": MediumSpec("dvd-r-dl", "DVD-R DL", 4_171_712),  # 8.5 GB
    "bd-r": MediumSpec("bd-r", "BD-R", 12_219_392),  # 25 GB
    "usb": MediumSpec("usb", "USBメモリ", None),
}


def sectors(n_bytes: int) -> int:
    return -(-n_bytes // SECTOR)
