"""`refresh --jobs N`: the same copy as with one job, big tables split by key range."""

from __future__ import annotations

from helpers import RULES, run_cli, write_config
from pgcompare import all_digests, catalog_counts, sequence_positions


def test_jobs_4_gives_the_same_copy_as_jobs_1(pg, pagila_src, target_name, tmp_path):
    one, four = target_name, target_name + "_j4"
    try:
        cfg = write_config(
            tmp_path, pagila_src, RULES / "pagila.yml", {"one": pg.url(one), "four": pg.url(four)}
        )
        done = run_cli("refresh", "one", "-c", str(cfg), "--yes", "--jobs", "1")
        assert done.returncode == 0, done.stderr
        # split every table over 1,000 rows into key ranges, to exercise that too
        done = run_cli(
            "refresh",
            "four",
            "-c",
            str(cfg),
            "--yes",
            "--jobs",
            "4",
            "--json",
            env={"DATACLONER_SPLIT_ROWS": "1000"},
        )
        assert done.returncode == 0, done.stderr
        assert all_digests(pg, one) == all_digests(pg, four)
        with pg.connect(one) as a, pg.connect(four) as b:
            assert catalog_counts(a) == catalog_counts(b)
            assert sequence_positions(a) == sequence_positions(b)
    finally:
        pg.drop(four, four + "__dc_prev")
