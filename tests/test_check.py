"""`datacloner check`, the CI gate: passes on a covered source, fails naming
the column when production grows a personal column, and treats a kept column
that looks personal as a warning (a failure with --strict) unless it is kept
with a reason."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli, run_in_process, write_config


@pytest.fixture
def app_src(pg, run_id):
    name = f"dct_{run_id}_check"
    pg.drop(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg.connect(name) as conn:
        conn.execute(
            "CREATE TABLE users (id int PRIMARY KEY, email text, plan text);"
            "INSERT INTO users SELECT g, 'person' || g || '@mail.example', 'free' "
            "FROM generate_series(1, 300) g"
        )
    yield name
    pg.drop(name)


def _rules(tmp_path, keep: str) -> str:
    path = tmp_path / "rules.yml"
    path.write_text(
        "tables:\n  public.users:\n    mask:\n      email: {faker: email, unique: true}\n"
        f"    keep: {keep}\n"
    )
    return str(path)


def _check(tmp_path, pg, name, keep, *flags):
    """check's answer, in this process (the real command runs below, for a bad config)."""
    cfg = write_config(tmp_path, pg.url(name), _rules(tmp_path, keep), {"dev": pg.url("x")})
    return run_in_process("check", "-c", str(cfg), *flags)


def test_gate_passes_then_fails_when_production_grows_a_personal_column(pg, app_src, tmp_path):
    assert _check(tmp_path, pg, app_src, "[id, plan]", "--strict").returncode == 0
    with pg.connect(app_src) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN phone_number text")
        conn.execute("UPDATE users SET phone_number = '+1 202 555 ' || lpad(id::text, 4, '0')")
    done = _check(tmp_path, pg, app_src, "[id, plan]", "--strict")
    assert done.returncode == 1
    assert "phone_number" in done.stderr and "keep: [phone_number]" in done.stderr


def test_kept_personal_column_warns_fails_strict_and_a_reason_silences_it(pg, app_src, tmp_path):
    with pg.connect(app_src) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN phone_number text")
        conn.execute("UPDATE users SET phone_number = '+1 202 555 ' || lpad(id::text, 4, '0')")
    keep = "[id, plan, phone_number]"
    relaxed = _check(tmp_path, pg, app_src, keep)
    assert relaxed.returncode == 0
    assert "phone_number is kept but looks personal" in relaxed.stderr
    strict = _check(tmp_path, pg, app_src, keep, "--strict")
    assert strict.returncode == 1
    assert "phone_number" in strict.stderr
    assert "+1 202 555" not in strict.stderr + strict.stdout  # never a value

    as_json = _check(tmp_path, pg, app_src, keep, "--strict", "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert [f["column"] for f in report["kept_but_personal"]] == ["phone_number"]

    reasoned = '[id, plan, {phone_number: "the company switchboard, not a person"}]'
    assert _check(tmp_path, pg, app_src, reasoned, "--strict").returncode == 0


def test_json_reports_unclassified_columns_and_bad_config(pg, app_src, tmp_path):
    done = _check(tmp_path, pg, app_src, "[id]", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["unclassified"] == {"public.users": ["plan"]}
    cfg = tmp_path / "datacloner.yml"
    cfg.write_text("source: 42\n")
    bad = run_cli("check", "-c", str(cfg), "--json")
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["exit_code"] == 2
