"""A masked table read from a real PostgreSQL: COPY text as the server writes
it (its own escapes), masked in batches on the native and the pure-Python
path, gives the same bytes, and every kept field is the server's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacloner.core.plan import build_plan
from datacloner.core.rules import load_rules
from datacloner.engines.postgres import copytext
from datacloner.engines.postgres.source import PgSource
from datacloner.masking import compile_mask
from datacloner.masking.table_masker import MaskerCache, TableMasker
from datacloner.runtime.refresh import check_rule

RULES = """\
tables:
  public.notes:
    mask:
      author: {faker: email, unique: true}
      body: {scrub: [email]}
      tags: first_name
      blob: null
    keep: [id, title, meta, nums]
    unless: "id % 5 = 0"
"""
# escapes the server writes (\\b \\f \\v too), a literal \N, tabs, newlines,
# carriage returns, backslashes, multibyte text, empty strings, a long field
HOSTILE = [
    "plain",
    "",
    "\\N",
    "tab\there",
    "new\nline\r\nwin",
    "back\\slash\\",
    "\b\f\v",
    "é日本😀",
    "mail me: someone@example.org\t\\N",
    "x" * 70_000 + "\\",
]


@pytest.fixture(scope="module")
def notes(pg, run_id):
    name = f"dct_{run_id}_copytext"
    pg.drop(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg.connect(name) as conn:
        conn.execute(
            "CREATE TABLE notes (id int PRIMARY KEY, title text, author text, body text,"
            " tags text[], meta jsonb, blob bytea, nums int[])"
        )
        with conn.cursor() as cur:
            for i in range(120):
                text = HOSTILE[i % len(HOSTILE)]
                cur.execute(
                    "INSERT INTO notes VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        i,
                        None if i % 7 == 0 else HOSTILE[(i + 3) % len(HOSTILE)],
                        f"user{i}@corp.example",
                        text,
                        [text, None, "b"] if i % 3 else None,
                        f'{{"k": {i}, "s": "{i}\\t\\\\"}}',
                        bytes([i, 0, 92, 9, 10]),
                        [i, None, -i],
                    ),
                )
    yield pg.url(name)
    pg.drop(name)


def _masked(url: str, rules: Path, batch: int) -> tuple[bytes, bytes]:
    source = PgSource(url, psql_reader=False)
    try:
        plan = build_plan(source.read_catalog(), load_rules(rules), check_rule)
        (tp,) = [t for t in plan.copied if t.table.name == "notes"]
        masker = TableMasker(tp, MaskerCache(compile_mask, b"test-secret-0123456789"))
        out = b"".join(source.masked_copy(tp, masker, batch, lambda _n: None))
        with source.copy_out(tp) as chunks:
            raw = b"".join(chunks)
        return out, raw
    finally:
        source.close()


def test_server_copy_text_masked_alike_on_both_paths(notes, tmp_path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    native = copytext._copynative
    out, raw = _masked(notes, rules, 7)
    copytext._copynative = None
    try:
        pure, _ = _masked(notes, rules, 1000)
    finally:
        copytext._copynative = native
    assert out == pure

    columns = ["id", "title", "author", "body", "tags", "meta", "blob", "nums"]
    kept = [columns.index(c) for c in ("id", "title", "meta", "nums")]
    got = [line.split(b"\t") for line in out.splitlines()]
    was = [line.split(b"\t") for line in raw.splitlines()]
    assert len(got) == len(was) == 120
    for a, b in zip(got, was, strict=True):
        assert [a[i] for i in kept] == [b[i] for i in kept]  # the server's bytes
        if int(b[0]) % 5 == 0:
            assert a == b  # `unless` rows pass whole
        else:
            assert a[6] == b"\\N" and a[2] != b[2]
