"""Telephone numbers: stored as dialable digits, shown in Japanese national format.

Every rule comes from `phonenumbers` (libphonenumber's metadata), never written by hand. Numbers in
international form are stored as dialled from Japan: +81 numbers (with or without the trunk 0 the
recorder sometimes leaves in, +810312345678) in national form, others after Japan's 010 prefix.
Digits the recorder wrote without a + are kept as dialled: `00` is not an international prefix in
Japan, so 00312345678 stays as it is unless the configured outside-line prefix explains it.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import lru_cache

import phonenumbers

REGION = "JP"


class CallerId(StrEnum):
    NUMBER = "number"
    WITHHELD = "withheld"
    UNAVAILABLE = "unavailable"


_WITHHELD = {"anonymous", "private", "restricted", "withheld", "p"}
_UNAVAILABLE = {"", "unknown", "unavailable", "o", "none"}
_NON_DIGITS = re.compile(r"\D")


def _parsed(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, REGION)
    except phonenumbers.NumberParseException:
        return None


def _as_dialled_from_japan(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.normalize_digits_only(
        phonenumbers.format_out_of_country_calling_number(number, REGION))


def _valid(digits: str) -> bool:
    number = _parsed(digits)
    return number is not None and phonenumbers.is_valid_number(number)


def normalize(raw: str, *, outside_line_prefix: str = "") -> tuple[str | None, CallerId]:
    """Return (digits or None, caller-ID status) for a number as the recorder wrote it.

    `outside_line_prefix`: the digit(s) the centre dials to get an outside line (0 on many PBXs);
    removed from a dialled number only when the rest is a valid number and the whole is not.
    """
    if raw.isascii() and raw.isdigit() and not raw.startswith("00") and not outside_line_prefix:
        return raw, CallerId.NUMBER  # the common case, without the Unicode work below
    text = unicodedata.normalize("NFKC", raw).strip()
    lowered = text.lower()
    if lowered in _WITHHELD:
        return None, CallerId.WITHHELD
    if lowered in _UNAVAILABLE:
        return None, CallerId.UNAVAILABLE
    digits = phonenumbers.normalize_digits_only(text)
    if not digits:
        return None, CallerId.UNAVAILABLE
    if text.startswith("+"):
        number = _parsed(text)
        return (_as_dialled_from_japan(number) if number else digits), CallerId.NUMBER
    prefix = outside_line_prefix
    if prefix and digits.startswith(prefix) and not _valid(digits) and _valid(digits[len(prefix):]):
        digits = digits[len(prefix):]
    return digits, CallerId.NUMBER


def search_digits(text: str) -> str:
    """What a user typed into a number search, reduced to digits (full-width digits included)."""
    return _NON_DIGITS.sub("", unicodedata.normalize("NFKC", text))


@lru_cache(maxsize=65536)
def display(digits: str | None) -> str:
    """048-829-1111 for national numbers, +1 202-555-0123 for international, digits otherwise."""
    if not digits:
        return ""
    try:
        number = phonenumbers.parse(digits, REGION)
    except phonenumbers.NumberParseException:
        return digits
    if number.country_code == 81:
        if not phonenumbers.is_valid_number(number):
            return digits  # kept as dialled (00312345678, a short extension)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def masked(digits: str | None, keep: int = 4) -> str:
    """The display form with every digit but the last `keep` replaced by •."""
    shown = display(digits)
    total = sum(ch.isdigit() for ch in shown)
    out: list[str] = []
    seen = 0
    for ch in shown:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - keep else "•")
        else:
            out.append(ch)
    return "".join(out)
