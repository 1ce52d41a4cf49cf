"""The native COPY text helpers give exactly the pure-Python results."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.engines.postgres import copytext

if copytext._copynative is None:
    if os.environ.get("CI"):  # CI builds it: a missing extension there is a build failure
        pytest.fail("the native extension datacloner.engines.postgres._copynative is not built")
    pytest.skip("native extension not built", allow_module_level=True)

native = copytext._copynative

FIELD = st.one_of(
    st.just(b"\\N"),
    st.binary(max_size=12).map(lambda b: b.replace(b"\t", b"").replace(b"\n", b"")),
    st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"a\\tb", b"\\\\", b"x\\n", b"\\x41", b"\\101", b"", b"\xff\xfe"]),
)
ROWS = st.lists(st.lists(FIELD, min_size=1, max_size=5), max_size=8)


def python_decode(field: bytes) -> object:
    try:
        return ("ok", copytext.decode(field))
    except Exception as exc:
        return ("error", type(exc))


@settings(max_examples=300, deadline=None)
@given(ROWS, st.binary(max_size=20))
def test_split_and_join_are_the_python_ones(rows: list[list[bytes]], tail: bytes) -> None:
    data = b"".join(b"\t".join(r) + b"\n" for r in rows) + tail.replace(b"\n", b"")
    lines = data.split(b"\n")
    rest = lines.pop()
    assert native.split_rows(data) == ([line.split(b"\t") for line in lines], rest)
    assert native.join_rows(rows) == b"".join(b"\t".join(r) + b"\n" for r in rows)


@settings(max_examples=300, deadline=None)
@given(st.lists(FIELD, max_size=10))
def test_decode_column_is_decode(fields: list[bytes]) -> None:
    rows = [[b"k", f] for f in fields]
    expected = [python_decode(f) for f in fields]
    if any(kind == "error" for kind, _ in expected):
        with pytest.raises(UnicodeDecodeError):
            native.decode_column(rows, 1, copytext.decode)
    else:
        assert native.decode_column(rows, 1, copytext.decode) == [v for _, v in expected]


VALUE = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["a\tb", "back\\slash", "line\nbreak", "cr\r", "\ud800", "é日本"]),
    st.integers(),
    st.dates(),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUE, max_size=10))
def test_encode_column_is_encode(values: list[object]) -> None:
    rows = [[b"k", b"old"] for _ in values]
    try:
        expected = [copytext.encode(v) for v in values]
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            native.encode_column(rows, 1, values, copytext.encode)
        return
    native.encode_column(rows, 1, values, copytext.encode)
    assert [r[1] for r in rows] == expected
    assert [r[0] for r in rows] == [b"k"] * len(values)
