"""Detectors of personal values in free text (shared by scrub and scan)."""

from __future__ import annotations

import re
import warnings

import phonenumbers
import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.detect import detectors
from datacloner.detect.detectors import KINDS, find, find_all, iban_ok, is_kind, luhn_ok


def spans_text(kind: str, text: str) -> list[str]:
    return [text[s:e] for s, e in find(kind, text)]


def test_kinds_are_the_shared_contract() -> None:
    assert KINDS == ("email", "phone", "ipv4", "ipv6", "credit_card", "iban", "url")


# --- validators ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("4111111111111111", True),
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        ("378282246310005", True),
        ("4111111111111112", False),
        ("", False),
        ("7", False),
        ("41111111111111a1", False),
        ("٤١١١١١١١١١١١١١١١", False),  # non-ASCII digits are not card digits
    ],
)
def test_luhn(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("DE89370400440532013000", True),
        ("DE89 3704 0044 0532 0130 00", True),
        ("de89 3704 0044 0532 0130 00", True),
        ("GB82WEST12345698765432", True),
        ("GB82 WEST 1234 5698 7654 32", True),
        ("DE88370400440532013000", False),  # check digits off by one
        ("DE89", False),
        ("1234567890123456", False),
        ("", False),
    ],
)
def test_iban_mod97(text: str, ok: bool) -> None:
    assert iban_ok(text) is ok


# --- find: each kind -----------------------------------------------------------------------


def test_email_spans_leave_punctuation_out() -> None:
    text = "Mail Jane.Doe+x@mail.example.co.uk. Or (bob@x.io), not me@localhost or a@b.c1"
    assert spans_text("email", text) == ["Jane.Doe+x@mail.example.co.uk", "bob@x.io"]


def test_email_unicode_and_leading_dot() -> None:
    assert spans_text("email", "…to .josé@café.fr!") == ["josé@café.fr"]


@pytest.mark.parametrize(
    "phone",
    [
        "+1-555-123-4567",
        "(555)123-4567",
        "555.123.4567",
        "555-123-4567x890",
        "+44 20 7946 0958",
        "+44(0)1632 960 123",
        "(0161) 496 0123",
        "01 23 45 67 89",
        "+49 (0) 9628 056179",
        "(+30) 2439 150008",
        "06-45/147 5432",
        "5551234567",
        "+15551234567",
    ],
)
def test_phone_shapes(phone: str) -> None:
    assert is_kind("phone", phone)
    assert spans_text("phone", f"call {phone} now") == [phone]


@pytest.mark.parametrize(
    "not_phone",
    [
        "2022-02-15",
        "15.02.2022",
        "2022-02-15 09:57:20",
        "10.0.0.1",
        "12345.6789",
        "1234567",  # a bare 7-digit number: an id more likely
        "order 48213",
        "1 234.50",
        "x5551234567",
        "5551234567abc",
    ],
)
def test_not_phones(not_phone: str) -> None:
    assert find("phone", f"see {not_phone} here") == []


@pytest.mark.parametrize(
    "text",
    [
        "1963-1981",
        "Greatest Hits 1975-1985",
        "2.4.1-3",
        "INV-2026-04-0007",
        "Q-0A5F-202604-007",
        "ref 2026-04-0007",
        "550e8400-e29b-41d4-a716-446655440000",
        "12345678-1234-1234-1234-123456789012",
        "20240101123456",  # a Rails migration version
        "+00(9)1644927905",  # no country has code 0
    ],
)
@pytest.mark.parametrize("native", [True, False], ids=["c", "python"])
def test_year_ranges_versions_and_document_numbers_are_not_phones(
    text: str, native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both paths (C candidates, Python candidates) go through phone_valid."""
    if not native:
        monkeypatch.setattr(detectors, "_detectnative", None)
    elif detectors._detectnative is None:
        pytest.skip("native extension not built")
    assert find_all(text) == []
    assert detectors.finder(["phone"])(f"see {text} here") == []
    # and a real phone beside them still is one
    found = find_all(f"{text} call +1 555-123-4567")
    assert [k for *_, k in found] == ["phone"]


def test_a_timestamp_before_a_phone_is_skipped_whole() -> None:
    text = "at 2022-02-15 09:57:20+00 call 555-123-4567"
    assert spans_text("phone", text) == ["555-123-4567"]


def test_cards_are_luhn_checked_and_grouped() -> None:
    text = "card 4111 1111 1111 1111, old 4111 1111 1111 1112, amex 3782 822463 10005."
    assert spans_text("credit_card", text) == ["4111 1111 1111 1111", "3782 822463 10005"]
    # Mixed separators are not how cards are printed.
    assert find("credit_card", "4111 1111-1111 1111") == []
    # A valid card followed by more digits is still found.
    assert spans_text("credit_card", "4111111111111111 2024") == ["4111111111111111"]


def test_ibans_with_and_without_spaces() -> None:
    text = "IBAN DE89 3704 0044 0532 0130 00 AND GB82WEST12345698765432; bad DE00 1234 5678 9012"
    assert spans_text("iban", text) == [
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
    ]


def test_ipv4_is_validated() -> None:
    text = "from 192.168.1.10, not 999.1.1.1 or 1.2.3.4.5 or 01.2.3.4; v 10.0.0.1."
    assert spans_text("ipv4", text) == ["192.168.1.10", "10.0.0.1"]


def test_ipv6_is_validated() -> None:
    text = (
        "fe80::1%eth0 and 2001:db8::8a2e:370:7334: down; std::vector at 12:30:45, ::ffff:10.0.0.1"
    )
    assert spans_text("ipv6", text) == [
        "fe80::1%eth0",
        "2001:db8::8a2e:370:7334",
        "::ffff:10.0.0.1",
    ]
    assert find("ipv6", "MAC 00:1A:2B:3C:4D:5E") == []


def test_urls_without_trailing_punctuation() -> None:
    text = "see https://x.com/a?b=c@d.com). and (www.example.org/path) or ftp://files.example.net."
    assert spans_text("url", text) == [
        "https://x.com/a?b=c@d.com",
        "www.example.org/path",
        "ftp://files.example.net",
    ]


# --- find_all: priority, overlaps ----------------------------------------------------------


def test_find_all_priority_and_no_overlaps() -> None:
    text = (
        "Call +1-555-123-4567 or mail jane@corp.com, see https://corp.com/u/jane@corp.com, "
        "card 4111 1111 1111 1111, ip 10.0.0.1, IBAN DE89 3704 0044 0532 0130 00."
    )
    found = find_all(text)
    assert [(k, text[s:e]) for s, e, k in found] == [
        ("phone", "+1-555-123-4567"),
        ("email", "jane@corp.com"),
        ("url", "https://corp.com/u/jane@corp.com"),
        ("credit_card", "4111 1111 1111 1111"),
        ("ipv4", "10.0.0.1"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
    ]
    for (_, end, _), (start, _, _) in zip(found, found[1:], strict=False):
        assert end <= start


def test_find_all_custom_patterns_win() -> None:
    text = "ref ORD-555123 and 555-123-4567"
    found = find_all(text, ["phone"], {"order": re.compile(r"ORD-\d{6}")})
    assert [(k, text[s:e]) for s, e, k in found] == [
        ("order", "ORD-555123"),
        ("phone", "555-123-4567"),
    ]


def test_phone_and_card_side_by_side() -> None:
    text = "555-123-4567 4111 1111 1111 1111"
    found = find_all(text, ["phone", "credit_card"])
    assert [(k, text[s:e]) for s, e, k in found] == [
        ("phone", "555-123-4567"),
        ("credit_card", "4111 1111 1111 1111"),
    ]


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown detector kind 'mail'"):
        find("mail", "x")
    with pytest.raises(ValueError):
        find_all("x", ["mail"])
    with pytest.raises(ValueError):
        detectors.finder(["mail"])


def test_is_kind_is_the_whole_value() -> None:
    assert is_kind("email", "  jane@corp.com ")
    assert not is_kind("email", "jane@corp.com and more")
    assert not is_kind("email", "")
    assert is_kind("iban", "DE89 3704 0044 0532 0130 00")
    assert is_kind("ipv4", "10.0.0.1") and not is_kind("ipv6", "10.0.0.1")
    assert is_kind("url", "https://example.com/x")


# --- Faker's own fakes are recognised (scan suggests rules from sampled values) -----------


@pytest.mark.parametrize("locale", ["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES"])
def test_fakers_values_are_recognised(locale: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fake = Faker(locale)
    fake.seed_instance(7)
    for _ in range(100):
        assert is_kind("email", fake.email())
        assert is_kind("phone", fake.phone_number())
        assert is_kind("ipv4", fake.ipv4())
        assert is_kind("ipv6", fake.ipv6())
        assert is_kind("credit_card", fake.credit_card_number())
        assert is_kind("iban", fake.iban())
        assert is_kind("url", fake.url())


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=120))
def test_property_spans_are_sorted_disjoint_and_inside(text: str) -> None:
    found = find_all(text)
    previous_end = 0
    for start, end, kind in found:
        assert 0 <= previous_end <= start < end <= len(text)
        assert kind in KINDS
        previous_end = end


@settings(max_examples=100, deadline=None)
@given(
    prefix=st.text(alphabet="abc xyz,;", max_size=20),
    suffix=st.text(alphabet="abc xyz,;", max_size=20),
)
def test_property_a_card_in_prose_is_found(prefix: str, suffix: str) -> None:
    text = f"{prefix} 4111 1111 1111 1111 {suffix}"
    assert "4111 1111 1111 1111" in [text[s:e] for s, e in find("credit_card", text)]


def _possible_whole(digits: str, plus: bool) -> bool:
    number = ("+" if plus else "") + digits
    try:
        if plus:
            return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False
    for region in detectors.PHONE_REGIONS:
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(number, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


@settings(max_examples=600, deadline=None, derandomize=True)
@given(digits=st.from_regex(r"(0|00|011)?[0-9]{5,13}", fullmatch=True), plus=st.booleans())
def test_phonenumbers_answer_cached_on_prefix_and_length_is_the_whole_numbers(
    digits: str, plus: bool
) -> None:
    """phone_valid asks phonenumbers about the first digits and the length only."""
    key = detectors.possible_key(digits, plus)
    assert detectors._possible(key) == _possible_whole(digits, plus)
