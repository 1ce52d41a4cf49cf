"""The COPY text codec: the native helpers give exactly the pure-Python results
(outputs and errors), on hostile fields, and a masked table's COPY text keeps
every unmasked field byte for byte whatever the batches and chunk cuts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import native_missing
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.core.catalog import Column, Table
from datacloner.core.plan import TablePlan
from datacloner.core.rules import load_rules
from datacloner.engines.postgres import copytext, rows
from datacloner.masking import compile_mask
from datacloner.masking.table_masker import MaskerCache, TableMasker

if copytext._copynative is None:
    native_missing("datacloner.engines.postgres._copynative")

NATIVE = copytext._copynative


@contextmanager
def pure() -> Iterator[None]:
    """The pure-Python path (what DATACLONER_PURE_PYTHON=1 gives)."""
    copytext._copynative = None
    try:
        yield
    finally:
        copytext._copynative = NATIVE


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:
        return "error", (type(exc), str(exc))


def both(call: Callable[[], Any]) -> tuple[str, Any]:
    """``call`` on the native and the pure-Python path: the same result or error."""
    native = outcome(call)
    with pure():
        python = outcome(call)
    assert native == python
    return native


# Hostile text, as PostgreSQL writes it in COPY text: escaped backslashes, tabs,
# newlines and carriage returns, multibyte UTF-8, empty strings, a value that
# reads "\N" (not NULL), NULL itself, and bytes that are not UTF-8.
TEXT = st.text(
    alphabet=st.sampled_from(["a", "\\", "\t", "\n", "\r", "N", "é", "日", "😀", " "]),
    max_size=12,
)
FIELD = st.one_of(
    TEXT.map(copytext.encode),
    st.just(b"\\N"),
    st.sampled_from(
        [
            b"",
            b"\\\\N",
            b"\\x41\\101",
            b"\xff\xfe",
            b"caf\xc3\xa9",
            b"a\\",
            b"\\b\\f\\v\\q",
            b"\xc3\\n",
        ]
    ),
    st.binary(max_size=8).map(lambda b: b.replace(b"\t", b"").replace(b"\n", b"")),
)


@st.composite
def blocks(draw: st.DrawFn) -> tuple[bytes, int, list[list[bytes]]]:
    width = draw(st.integers(1, 5))
    table = draw(st.lists(st.lists(FIELD, min_size=width, max_size=width), max_size=8))
    return b"".join(b"\t".join(r) + b"\n" for r in table), width, table


@settings(max_examples=200, deadline=None)
@given(blocks(), st.data())
def test_pick_and_splice_are_the_python_ones(block: Any, data: st.DataObject) -> None:
    raw, width, table = block
    columns = data.draw(st.lists(st.integers(0, width - 1), unique=True, max_size=width))
    picked = both(lambda: copytext.pick(raw, width, columns))
    assert picked == ("ok", [[r[c] for r in table] for c in columns])

    new = [
        data.draw(st.lists(st.none() | FIELD, min_size=len(table), max_size=len(table)))
        for _ in columns
    ]
    keep = data.draw(st.integers(1, width))
    spliced = both(lambda: copytext.splice(raw, width, columns, new, keep))
    expected = [list(r) for r in table]
    for c, values in zip(columns, new, strict=True):
        for row, value in zip(expected, values, strict=True):
            row[c] = row[c] if value is None else value
    assert spliced == ("ok", b"".join(b"\t".join(r[:keep]) + b"\n" for r in expected))

    def through_block() -> tuple[list[list[bytes]], bytes]:
        b = copytext.Block(raw, width)
        b.fetch(columns)
        return [b.fields(c) for c in range(width)], b.spliced(
            dict(zip(columns, new, strict=True)), keep
        )

    assert both(through_block) == (
        "ok",
        ([[r[c] for r in table] for c in range(width)], spliced[1]),
    )


def test_very_long_fields_pass_through() -> None:
    long_text = ("é\\\t\n日" * 20_000) + "end"
    field = copytext.encode(long_text)
    raw = b"1\t" + field + b"\t" + b"x" * 1_000_000 + b"\n2\t\t\\N\n"
    assert both(lambda: copytext.pick(raw, 3, [1])) == ("ok", [[field, b""]])
    assert both(lambda: copytext.decode_fields([field]))[1] == [long_text]
    out = both(lambda: copytext.splice(raw, 3, [2], [[b"y", None]], 3))[1]
    assert out == b"1\t" + field + b"\ty\n2\t\t\\N\n"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: copytext.pick(b"a\tb\nc", 2, [0]), "ended in the middle of a row"),
        (lambda: copytext.pick(b"a\tb\nc\n", 2, [0]), "row 2 does not have 2 fields"),
        (lambda: copytext.pick(b"a\tb\tc\n", 2, [1]), "row 1 does not have 2 fields"),
        (lambda: copytext.pick(b"a\n", 1, [0, 0]), "distinct fields"),
        (lambda: copytext.pick(b"a\n", 1, [1]), "distinct fields"),
        (lambda: copytext.pick(b"a\n", 0, []), "at least one field"),
        (lambda: copytext.splice(b"a\tb\n", 2, [0], [[b"x", b"y"]], 2), "one value per row"),
        (lambda: copytext.splice(b"a\tb\n", 2, [0], [[]], 2), "one value per row"),
        (lambda: copytext.splice(b"a\tb\n", 2, [0], [[b"x"], [b"y"]], 2), "one list of values"),
        (lambda: copytext.splice(b"a\tb\n", 2, [0], [["x"]], 2), "must be bytes"),
        (lambda: copytext.splice(b"a\tb\n", 2, [0], [[b"x"]], 3), "keep is between"),
        (lambda: copytext.splice(b"a\tb\n", 2, [0], [[b"x"]], 0), "keep is between"),
        (lambda: copytext.splice(b"a\n", 2, [0], [[b"x"]], 2), "row 1 does not have 2 fields"),
    ],
)
def test_errors_are_the_python_ones(call: Callable[[], Any], error: str) -> None:
    kind, (_, message) = both(call)
    assert kind == "error" and error in message


@settings(max_examples=200, deadline=None)
@given(st.lists(FIELD, max_size=10))
def test_decode_fields_is_decode(fields: list[bytes]) -> None:
    expected = outcome(lambda: [copytext.decode(f) for f in fields])
    got = both(lambda: copytext.decode_fields(fields))
    assert got[0] == expected[0] and (got[0] == "error" or got == expected)


VALUE = st.one_of(
    st.none(),
    TEXT,
    st.sampled_from(["a\tb", "back\\slash", "line\nbreak", "cr\r", "\ud800", "é日本", "\\N", ""]),
    st.integers(),
    st.dates(),
    st.booleans(),
    st.binary(max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(VALUE, max_size=10))
def test_encode_values_is_encode(values: list[object]) -> None:
    expected = outcome(lambda: [copytext.encode(v) for v in values])
    got = both(lambda: copytext.encode_values(values))
    assert got[0] == expected[0] and (got[0] == "error" or got == expected)
    texts = [v for v in values if v is None or isinstance(v, str)]
    if got[0] == "ok" and len(texts) == len(values):  # text comes back as it was
        assert both(lambda: copytext.decode_fields(got[1])) == ("ok", values)


# --- a masked table's COPY text, batch by batch ------------------------------------------

RULES = """\
tables:
  public.people:
    mask:
      email: {faker: email, unique: true}
      city: null
      label: {template: "{email}/{nick}"}
    keep: [id, nick, notes]
    unless: "id < 0"
"""
COLUMNS = ["id", "email", "nick", "city", "notes", "label"]


def people(tmp_path: Path, unless: bool) -> TablePlan:
    path = tmp_path / "rules.yml"
    path.write_text(RULES if unless else RULES.replace('    unless: "id < 0"\n', ""))
    masks = load_rules(path).tables[0].mask
    columns = [Column(name, "bigint" if name == "id" else "text") for name in COLUMNS]
    table = Table("public", "people", columns, primary_key=["id"])
    return TablePlan(table, False, columns, masks, unless="id < 0" if unless else None)


def source_rows(n: int, flag: bool) -> bytes:
    out = []
    for i in range(n):
        fields = [
            str(i).encode(),
            copytext.encode(f"p{i % 7}@corp.example" if i % 5 else None),
            copytext.encode(["\\N", "tab\there", "new\nline", "", "é日😀", "back\\slash"][i % 6]),
            copytext.encode("Paris"),
            b"x" * (i % 3) + b"\\\\" + b"\xc3\xa9",
            copytext.encode(None if i % 4 == 0 else "old"),
        ]
        if flag:
            fields.append(b"t" if i % 3 == 0 else b"f")
        out.append(b"\t".join(fields) + b"\n")
    return b"".join(out)


def masked(plan: TablePlan, chunks: list[bytes], batch: int) -> bytes:
    masker = TableMasker(plan, MaskerCache(compile_mask, b"test-secret-0123456789"))
    counted: list[int] = []
    out = b"".join(rows.masked_blocks(chunks, masker, batch, counted.append))
    assert sum(counted) == out.count(b"\n")
    return out


@pytest.mark.parametrize("unless", [False, True])
def test_masked_text_does_not_depend_on_batches_chunks_or_native(tmp_path, unless) -> None:
    plan = people(tmp_path, unless)
    raw = source_rows(200, unless)
    whole = masked(plan, [raw], 10_000)
    cuts = [raw[i : i + 37] for i in range(0, len(raw), 37)]  # chunks cut mid-row
    for chunks, batch in [([raw], 1), (cuts, 7), (cuts, 64), (raw.splitlines(True), 50)]:
        assert masked(plan, chunks, batch) == whole
    with pure():
        assert masked(plan, cuts, 7) == whole

    out = [line.split(b"\t") for line in whole.splitlines()]
    src = [line.split(b"\t") for line in raw.splitlines()]
    assert all(len(row) == len(COLUMNS) for row in out)  # the `unless` flag is dropped
    for got, was in zip(out, src, strict=True):
        kept = unless and was[-1] == b"t"
        for i in (0, 2, 4):  # kept fields: byte for byte
            assert got[i] == was[i]
        if kept:
            assert got == was[:-1]
        else:
            assert got[3] == b"\\N"  # `null`
            assert got[1] == b"\\N" if was[1] == b"\\N" else got[1] != was[1]
            if was[5] != b"\\N":  # a template of the masked email and the kept nick
                nick = copytext.decode(was[2])
                email = copytext.decode(got[1]) or ""  # a NULL renders as nothing
                assert copytext.decode(got[5]) == f"{email}/{nick}"


def test_a_row_cut_short_is_refused(tmp_path) -> None:
    plan = people(tmp_path, False)
    with pytest.raises(ValueError, match="ended in the middle of a row"):
        masked(plan, [source_rows(3, False)[:-1]], 2)
