"""Phone numbers: stored as digits (Japan's +81 in national form), shown in national format."""

from __future__ import annotations

import pytest

from services.core import phone
from services.core.phone import CallerId


@pytest.mark.parametrize(
    ("raw", "digits", "caller_id"),
    [
        ("0488291111", "0488291111", CallerId.NUMBER),
        ("+819012345678", "09012345678", CallerId.NUMBER),
        ("+81488291111", "0488291111", CallerId.NUMBER),
        ("+810312345678", "0312345678", CallerId.NUMBER),  # the trunk 0 left in after +81
        ("+81 3-1234-5678", "0312345678", CallerId.NUMBER),
        ("00312345678", "00312345678", CallerId.NUMBER),  # 00 is no international prefix in Japan
        ("00819012345678", "00819012345678", CallerId.NUMBER),
        ("01012025550123", "01012025550123", CallerId.NUMBER),
        ("090-1234-5678", "09012345678", CallerId.NUMBER),
        ("+12025550123", "01012025550123", CallerId.NUMBER),
        ("０９０１２３４５６７８", "09012345678", CallerId.NUMBER),  # full-width digits
        ("anonymous", None, CallerId.WITHHELD),
        ("Anonymous", None, CallerId.WITHHELD),
        ("private", None, CallerId.WITHHELD),
        ("unknown", None, CallerId.UNAVAILABLE),
        ("", None, CallerId.UNAVAILABLE),
        ("  ", None, CallerId.UNAVAILABLE),
        ("abc", None, CallerId.UNAVAILABLE),
        ("2001", "2001", CallerId.NUMBER),
    ],
)
def test_normalize(raw: str, digits: str | None, caller_id: CallerId) -> None:
    assert phone.normalize(raw) == (digits, caller_id)


@pytest.mark.parametrize(
    ("digits", "shown"),
    [
        ("0488291111", "048-829-1111"),
        ("09012345678", "090-1234-5678"),
        ("0312345678", "03-1234-5678"),
        ("0120123456", "0120-123-456"),
        ("01012025550123", "+1 202-555-0123"),
        ("2001", "2001"),
        ("00312345678", "00312345678"),  # kept as dialled, not read as an international number
        (None, ""),
    ],
)
def test_display(digits: str | None, shown: str) -> None:
    assert phone.display(digits) == shown


def test_outside_line_prefix_is_removed_only_where_it_explains_the_number() -> None:
    assert phone.normalize("00312345678", outside_line_prefix="0") == ("0312345678", CallerId.NUMBER)
    assert phone.normalize("0312345678", outside_line_prefix="0") == ("0312345678", CallerId.NUMBER)
    assert phone.normalize("2001", outside_line_prefix="0") == ("2001", CallerId.NUMBER)
    assert phone.normalize("9012345678", outside_line_prefix="9") == ("9012345678", CallerId.NUMBER)
    assert phone.normalize("90312345678", outside_line_prefix="9") == ("0312345678", CallerId.NUMBER)


def test_masked_keeps_the_last_four() -> None:
    assert phone.masked("0488291111") == "•••-•••-1111"
    assert phone.masked("09012345678") == "•••-••••-5678"
    assert phone.masked("2001") == "2001"
    assert phone.masked(None) == ""


def test_search_digits() -> None:
    assert phone.search_digits("048-829") == "048829"
    assert phone.search_digits("０４８ ８２９") == "048829"
    assert phone.search_digits("abc") == ""
