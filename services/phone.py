"""Telephone numbers: stored as dialable digits, shown in Japanese national format.

Formatting rules come from `phonenumbers` (libphonenumber's metadata), never written by hand.
Japanese numbers in international form (+81...) are stored in national form (0...); other
international numbers are stored as dialled from Japan (010 + country code + number).
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import lru_cache

import phonenumbers

REGION = "JP"
_INTL_PREFIX = "010"


class CallerId(StrEnum):
    NUMBER = "number"
    WITHHELD = "withheld"
    UNAVAILABLE = "unavailable"


_WITHHELD = {"anonymous", "private", "restricted", "withheld", "p"}
_UNAVAILABLE = {"", "unknown", "unavailable", "o", "none"}
_NON_DIGITS = re.compile(r"\D")


def normalize(raw: str) -> tuple[str | None, CallerId]:
    """Return (digits or None, caller-ID status) for a number as the recorder wrote it."""
    if raw.isascii() and raw.isdigit() and not raw.startswith("00"):
        return raw, CallerId.NUMBER  # the common case, without the Unicode work below
    text = unicodedata.normalize("NFKC", raw).strip()
    lowered = text.lower()
    if lowered in _WITHHELD:
        return None, CallerId.WITHHELD
    if lowered in _UNAVAILABLE:
        return None, CallerId.UNAVAILABLE
    digits = _NON_DIGITS.sub("", text)
    if not digits:
        return None, CallerId.UNAVAILABLE
    if text.startswith("+") or text.startswith("00"):
        if text.startswith("00"):
            digits = digits[2:]
        if digits.startswith("81"):
            return "0" + digits[2:], CallerId.NUMBER
        return _INTL_PREFIX + digits, CallerId.NUMBER
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
        if not phonenumbers.is_possible_number(number):
            return digits
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
        if len(form) > keep:
            text = text.replace(form, "•" * (len(form) - keep) + form[-keep:])
    return text


# What looks like a telephone number in free text (an audit detail, a hold's reason): 10 to 15
# digits in a row, or a hyphenated national number. Masks more than needed rather than less.
_NUMBER_LIKE = re.compile(r"(?<![0-9A-Za-z])(?:\+?\d{10,15}|\+?0\d{0,4}-\d{1,4}-\d{3,4})(?![0-9A-Za-z])")


def mask_any_in(text: str, keep: int = 4) -> str:
    """Every number-like run in `text` masked but for its last `keep` digits."""
    return _NUMBER_LIKE.sub(lambda m: _hide_digits(m.group(0), keep), text)
