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
from dataclasses import dataclass
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
        phonenumbers.format_out_of_country_calling_number(number, REGION)
    )


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
    if prefix and digits.startswith(prefix) and not _valid(digits) and _valid(digits[len(prefix) :]):
        digits = digits[len(prefix) :]
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
    return _hide_digits(display(digits), keep)


def _hide_digits(shown: str, keep: int) -> str:
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


def mask_in(text: str, digits: str | None, keep: int = 4) -> str:
    """`text` (a file name, a path) with the other party's number masked like `masked` does:
    the file name carries the number too, as the recorder wrote it (national, +81..., or an
    international number without the 010 prefix)."""
    if not digits or len(digits) <= keep:
        return text
    forms = {digits}
    if digits.startswith("010"):
        forms.add(digits[3:])
    elif digits.startswith("0"):
        forms.add("81" + digits[1:])
    for form in sorted(forms, key=len, reverse=True):
        if len(form) > keep:  # as written, perhaps with hyphens between the digits (090-1234-5678)
            written = re.compile("[-. ]?".join(re.escape(d) for d in form))
            text = written.sub(lambda m: _hide_digits(m.group(0), keep), text)
    return text


# What looks like a telephone number in free text (an audit detail, a hold's reason): 10 to 15
# digits in a row, or a hyphenated national number. Masks more than needed rather than less.
_NUMBER_LIKE = re.compile(r"(?<![0-9A-Za-z])(?:\+?\d{10,15}|\+?0\d{0,4}-\d{1,4}-\d{3,4})(?![0-9A-Za-z])")


def mask_any_in(text: str, keep: int = 4) -> str:
    """Every number-like run in `text` masked but for its last `keep` digits."""
    return _NUMBER_LIKE.sub(lambda m: _hide_digits(m.group(0), keep), text)


@dataclass(frozen=True, slots=True)
class NumberPlan:
    """What the configuration says about the centre's own side (decides ondemand's city side)."""

    own_numbers: tuple[str, ...] = ()  # digits, as stored
    extension_pattern: str = "[0-9]{2,6}"
    outside_line_prefix: str = ""

    def number(self, raw: str) -> tuple[str | None, CallerId]:
        return normalize(raw, outside_line_prefix=self.outside_line_prefix)

    def is_centre(self, digits: str | None) -> bool:
        if not digits:
            return False
        return digits in self.own_numbers or re.fullmatch(self.extension_pattern, digits) is not None
