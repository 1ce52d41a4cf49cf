"""The optional native extensions change nothing in the copy: a refresh with
them and one in pure Python give the same target, row for row.

Pagila with its rules exercises the faker draws and the COPY codec; Northwind
with every transformer adds scrub over free-text notes (the C detectors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import RULES, run_cli, write_config
from pgcompare import all_digests

LOCAL_RULES = Path(__file__).resolve().parent / "fixtures"


@pytest.mark.parametrize(
    ("source", "rules"),
    [
        ("pagila_src", RULES / "pagila.yml"),
        ("northwind_src", LOCAL_RULES / "northwind_every_transformer.yml"),
    ],
)
def test_native_and_pure_python_refreshes_are_identical(
    pg, target_name, tmp_path, request, source, rules
):
    native, pure = target_name, target_name + "_py"
    try:
        cfg = write_config(
            tmp_path,
            request.getfixturevalue(source),
            rules,
            {"native": pg.url(native), "pure": pg.url(pure)},
        )
        done = run_cli("refresh", "native", "-c", str(cfg), "--yes")
        assert done.returncode == 0, done.stderr
        done = run_cli(
            "refresh", "pure", "-c", str(cfg), "--yes", env={"DATACLONER_PURE_PYTHON": "1"}
        )
        assert done.returncode == 0, done.stderr
        assert all_digests(pg, native) == all_digests(pg, pure)
    finally:
        pg.drop(pure, pure + "__dc_prev")
