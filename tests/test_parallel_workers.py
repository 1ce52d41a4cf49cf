"""`--jobs` workers: they start without the CLI or SQLAlchemy, and small
tables go to them in batches, with the same copy as one job gives."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import scratch_db, write_config
from killing import Run, waiting_on_lock
from pgcompare import all_digests, catalog_counts

from datacloner.core.config import load_config
from datacloner.core.plan import build_plan
from datacloner.core.progress import QuietProgress
from datacloner.core.rules import load_rules
from datacloner.engines.postgres.parallel import MAX_BATCH, plan_batches
from datacloner.engines.postgres.source import PgSource
from datacloner.runtime import refresh as runtime
from datacloner.runtime.refresh import check_rule

TABLES = 40  # small ones, and one big enough to go alone


@pytest.fixture(scope="module")
def many_src(pg, run_id, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    name = f"dct_{run_id}_many"
    folder = tmp_path_factory.mktemp("many")
    (folder / "schema.sql").write_text(
        "CREATE TABLE big (id int PRIMARY KEY, email text UNIQUE);\n"
        "INSERT INTO big SELECT g, 'u' || g || '@x.example' FROM generate_series(1, 5000) g;\n"
        f"DO $$ BEGIN FOR i IN 1..{TABLES} LOOP\n"
        "  EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, big int REFERENCES big, "
        "email text)', i);\n"
        "  EXECUTE format('INSERT INTO t%s SELECT g, g, ''a'' || g || ''@x.example'' "
        "FROM generate_series(1, %s) g', i, i % 7);\n"
        "END LOOP; END $$;\nANALYZE;\n"
    )
    rules = "tables:\n  public.big: {mask: {email: {faker: email, unique: true}}, keep: [id]}\n"
    rules += "".join(
        f"  public.t{i}: {{mask: {{email: {{faker: email}}}}, keep: [id, big]}}\n"
        for i in range(1, TABLES + 1)
    )
    (folder / "rules.yml").write_text(rules)
    yield pg.create(name, folder / "schema.sql"), folder / "rules.yml"
    pg.drop(name)


def test_small_tables_go_in_batches_the_big_one_first(many_src):
    url, rules = many_src
    source = PgSource(url)
    try:
        plan = build_plan(source.read_catalog(), load_rules(rules), check_rule)
        tables = [t for t in plan.tables if not t.skip]
        batches = plan_batches(source, tables, jobs=2, split_rows=10**9)
    finally:
        source.close()
    names = [task.plan.name for batch in batches for task in batch]
    assert sorted(names) == sorted(t.name for t in tables)  # every table, once
    assert [t.plan.name for t in batches[0]] == ["public.big"]  # the costliest alone, first
    assert len(batches) <= 2 * 4 + 2  # a few round trips, not one per table
    assert all(len(batch) <= MAX_BATCH for batch in batches)


def test_batched_tables_give_the_same_copy_as_one_job(pg, many_src, target_name, tmp_path):
    one, two = target_name, target_name + "_j2"
    url, rules = many_src
    cfg = write_config(tmp_path, url, rules, {"one": pg.url(one), "two": pg.url(two)})
    try:
        for env, jobs in (("one", 1), ("two", 2)):
            runtime.refresh(load_config(cfg), env, QuietProgress(), lambda _: None, jobs=jobs)
        assert all_digests(pg, one) == all_digests(pg, two)
        with pg.connect(one) as a, pg.connect(two) as b:
            assert catalog_counts(a) == catalog_counts(b)
    finally:
        pg.drop(two, two + "__dc_prev")


def test_a_worker_imports_neither_the_cli_nor_sqlalchemy(
    pg, many_src, target_name, tmp_path, monkeypatch, capfd
):
    """Seen from outside: the workers inherit PYTHONPROFILEIMPORTTIME and print
    every module they import on the stderr they share with this process (which
    imported everything long ago, so prints nothing)."""
    url, rules = many_src
    cfg = write_config(tmp_path, url, rules, {"dev": pg.url(target_name)})
    capfd.readouterr()
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    runtime.refresh(load_config(cfg), "dev", QuietProgress(), lambda _: None, jobs=2)
    modules = [
        line.rsplit("|", 1)[-1].strip()
        for line in capfd.readouterr().err.splitlines()
        if line.startswith("import time:")
    ]
    # both workers ran, and they masked (the masking modules were imported)
    assert modules.count("datacloner.engines.postgres.worker") == 2
    assert "datacloner.masking.table_masker" in modules
    heavy = [
        m
        for m in modules
        if m.split(".")[0] in ("sqlalchemy", "typer", "click", "rich")
        or m.startswith("datacloner.cli")
        or m.startswith("datacloner.runtime")
    ]
    assert heavy == []


def _workers_of(leader: int) -> list[int]:
    """The --jobs worker processes of the datacloner process ``leader``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"postgres.worker import main" in a for a in argv) and str(leader).encode() in argv:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_workers_start_while_the_subset_is_chosen_and_end_with_a_stopped_run(
    pg, run_id, target_name, tmp_path
):
    """With --jobs 2 the workers are up before the rows are chosen (they import
    meanwhile): seen from outside while the selection waits on a lock this
    test holds on the source. A run stopped there leaves none of them behind."""
    (tmp_path / "rules.yml").write_text(
        "tables:\n  public.people: {mask: {email: {faker: email}}, keep: [id]}\n"
    )
    with scratch_db(
        pg,
        f"dct_{run_id}_early",
        "CREATE TABLE people (id int PRIMARY KEY, email text);"
        "INSERT INTO people SELECT g, 'u' || g || '@x.example' "
        "FROM generate_series(1, 2000) g; ANALYZE",
    ) as src:
        cfg = tmp_path / "datacloner.yml"
        cfg.write_text(
            f"source: {pg.url(src)}\nsecret: test-secret-0123456789\nrules: rules.yml\n"
            f"environments:\n  staging:\n    url: {pg.url(target_name)}\n"
            "    subset: {public.people: 10%}\n"
        )
        with pg.connect(src, autocommit=False) as holder:
            holder.execute("LOCK TABLE people IN ACCESS EXCLUSIVE MODE")
            run = Run(cfg, "staging", "--jobs", "2")
            try:
                run.wait_stage("subset")
                run.wait_for("the selection waiting", lambda: waiting_on_lock(pg, src, "COPY"))
                workers = _workers_of(run.proc.pid)
                assert len(workers) == 2
                run.proc.send_signal(signal.SIGTERM)
                assert run.wait() != 0
            finally:
                if run.proc.poll() is None:
                    run.kill()
            holder.rollback()
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert not pg.exists(target_name + "__dc_new")
