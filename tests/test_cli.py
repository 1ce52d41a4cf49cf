"""Every user error through the real command, as a user or a cron job meets it.

Each case checks the exit code (docs/design.md: 1 a check failed or data was
refused, 2 bad usage or configuration), that the message names the file (and
line), the thing at fault and what to do, that no stack trace is printed, and
that nothing at all was created on the target server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import RULES, run_cli, run_in_process, write_config
from psycopg import sql

PAGILA_RULES = RULES / "pagila.yml"
NO_SERVER = "postgresql://postgres@127.0.0.1:1/dct_nowhere"


def _text(done) -> str:
    """stdout and stderr as one line of words: the console wraps long messages."""
    return " ".join((done.stdout + "\n" + done.stderr).split())


def _assert_fails(done, code: int, *needles: str) -> None:
    text = _text(done)
    assert done.returncode == code, text
    assert "Traceback" not in done.stdout + done.stderr, text
    for needle in needles:
        assert needle in text, f"{needle!r} not in the output: {text}"


def _assert_nothing_created(pg, target: str) -> None:
    assert not pg.exists(target), f"{target} was created"
    assert not pg.exists(target + "__dc_new"), f"{target}__dc_new was left behind"


def _edited_rules(folder: Path, old: str, new: str, strict: bool = True) -> tuple[Path, int]:
    """rules/pagila.yml with the first ``old`` replaced; the line it was on."""
    text = PAGILA_RULES.read_text()
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    text = text.replace(old, new, 1)
    if not strict:
        assert "\nstrict: true\n" in text
        text = text.replace("\nstrict: true\n", "\nstrict: false\n")
    path = folder / "rules.yml"
    path.write_text(text)
    return path, line


def _config(tmp_path: Path, source: str, rules: Path, pg, target: str, **kwargs) -> Path:
    return write_config(tmp_path, source, rules, {"dev": pg.url(target)}, **kwargs)


def _refresh(cfg: Path, *more: str, env: dict[str, str] | None = None, run=run_cli):
    # each test's first command runs as a user runs it; a `check` after it, or a
    # verb's message alone, runs in this process (no second of imports)
    return run("refresh", "dev", "-c", str(cfg), *more, env=env)


# --- configuration ---------------------------------------------------------------


def test_missing_secret_says_how_to_set_it(pg, pagila_src, target_name, tmp_path) -> None:
    cfg = _config(tmp_path, pagila_src, PAGILA_RULES, pg, target_name, secret=None)
    done = _refresh(cfg, "--yes")
    _assert_fails(
        done, 2, str(cfg), "secret", "secret: ${DATACLONER_SECRET}", "export DATACLONER_SECRET="
    )
    _assert_nothing_created(pg, target_name)


def test_unset_secret_variable_names_it_and_the_line(
    pg, pagila_src, target_name, tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("DCT_UNSET_SECRET", raising=False)
    cfg = _config(tmp_path, pagila_src, PAGILA_RULES, pg, target_name, secret="${DCT_UNSET_SECRET}")
    done = _refresh(cfg, "--yes")
    _assert_fails(done, 2, f"{cfg}:2", "DCT_UNSET_SECRET", "export DCT_UNSET_SECRET=")
    _assert_nothing_created(pg, target_name)


def test_unset_variable_in_source_names_it_and_the_line(
    pg, target_name, tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("NOT_SET_VAR", raising=False)
    cfg = _config(tmp_path, "${NOT_SET_VAR}", PAGILA_RULES, pg, target_name)
    done = _refresh(cfg, "--yes")
    _assert_fails(done, 2, f"{cfg}:1:", "source", "NOT_SET_VAR is not set", "export NOT_SET_VAR=")
    _assert_nothing_created(pg, target_name)


def test_unknown_environment_names_the_closest(pg, pagila_src, target_name, tmp_path) -> None:
    cfg = write_config(
        tmp_path,
        pagila_src,
        PAGILA_RULES,
        {"staging": pg.url(target_name), "dev": pg.url(target_name + "_dev")},
    )
    done = run_cli("refresh", "stagin", "-c", str(cfg), "--yes")
    _assert_fails(done, 2, "`stagin`", str(cfg), "did you mean `staging`?", "staging, dev")
    _assert_nothing_created(pg, target_name)
    _assert_nothing_created(pg, target_name + "_dev")


def test_missing_config_file_exits_2(tmp_path) -> None:
    missing = tmp_path / "nope" / "datacloner.yml"
    done = run_cli("refresh", "dev", "--config", str(missing), "--yes", cwd=tmp_path)
    _assert_fails(done, 2, str(missing), "--config", "DATACLONER_CONFIG")


def test_datacloner_config_variable_is_honoured(pg, pagila_src, tmp_path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    cfg = write_config(folder, pagila_src, PAGILA_RULES, {"dev": pg.url("dct_unused")})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    done = run_cli("check", cwd=elsewhere, env={"DATACLONER_CONFIG": str(cfg)})
    assert done.returncode == 0, _text(done)
    assert "ok:" in done.stdout

    missing = tmp_path / "missing.yml"
    done = run_in_process("check", cwd=elsewhere, env={"DATACLONER_CONFIG": str(missing)})
    _assert_fails(done, 2, str(missing), "$DATACLONER_CONFIG")

    # --config wins over the variable
    done = run_in_process(
        "check", "-c", str(cfg), cwd=elsewhere, env={"DATACLONER_CONFIG": str(missing)}
    )
    assert done.returncode == 0, _text(done)


def test_datacloner_yml_in_the_working_directory_is_honoured(pg, pagila_src, tmp_path) -> None:
    write_config(tmp_path, pagila_src, PAGILA_RULES, {"dev": pg.url("dct_unused")})
    done = run_cli("check", cwd=tmp_path)
    assert done.returncode == 0, _text(done)
    assert "ok:" in done.stdout

    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_in_process("check", cwd=empty)
    _assert_fails(done, 2, f"no datacloner.yml in {empty}", "--config", "DATACLONER_CONFIG")


def test_unreachable_source_is_a_clear_error(pg, target_name, tmp_path) -> None:
    cfg = _config(tmp_path, NO_SERVER, PAGILA_RULES, pg, target_name)
    done = _refresh(cfg, "--yes")
    _assert_fails(done, 2, "cannot connect to the source", "127.0.0.1:1", "check the URL")
    _assert_nothing_created(pg, target_name)
    done = run_in_process("check", "-c", str(cfg))
    _assert_fails(done, 2, "cannot connect to the source", "127.0.0.1:1")


# --- rules against the live source ---------------------------------------------------


def test_unknown_table_suggests_the_closest(pg, pagila_src, target_name, tmp_path) -> None:
    rules, line = _edited_rules(tmp_path, "  public.customer:\n", "  public.custmer:\n")
    cfg = _config(tmp_path, pagila_src, rules, pg, target_name)
    done = _refresh(cfg, "--yes")
    _assert_fails(done, 2, f"{rules}:{line}:", "public.custmer", "did you mean public.customer")
    _assert_nothing_created(pg, target_name)
    _assert_fails(run_in_process("check", "-c", str(cfg)), 2, f"{rules}:{line}:", "public.customer")


def test_unknown_column_names_the_closest(pg, pagila_src, target_name, tmp_path) -> None:
    rules, line = _edited_rules(tmp_path, "- create_date ", "- create_dat ")
    cfg = _config(tmp_path, pagila_src, rules, pg, target_name)
    done = _refresh(cfg, "--yes")
    _assert_fails(
        done, 2, f"{rules}:{line}:", "'create_dat'", "public.customer", "closest: create_date"
    )
    _assert_nothing_created(pg, target_name)


def test_unknown_faker_provider_suggests_one(pg, pagila_src, target_name, tmp_path) -> None:
    rules, line = _edited_rules(
        tmp_path, "email: {faker: email, unique: true}", "email: {faker: emial, unique: true}"
    )
    cfg = _config(tmp_path, pagila_src, rules, pg, target_name)
    done = _refresh(cfg, "--yes")
    _assert_fails(
        done, 2, f"{rules}:{line}:", "public.customer.email", "'emial'", "Did you mean: email"
    )
    _assert_nothing_created(pg, target_name)


def test_unclassified_column_stops_strict_refresh_and_check(
    pg, pagila_src, target_name, tmp_path
) -> None:
    rules, _ = _edited_rules(tmp_path, "      - create_date ", "      # create_date ")
    cfg = _config(tmp_path, pagila_src, rules, pg, target_name)
    done = _refresh(cfg, "--yes")
    _assert_fails(done, 1, "unclassified", "public.customer:", "create_date", "mask")
    _assert_nothing_created(pg, target_name)

    done = run_in_process("check", "-c", str(cfg))
    _assert_fails(done, 1, "unclassified", "public.customer:", "create_date")


def test_unclassified_column_message_has_the_yaml_to_paste(pg, pagila_src, tmp_path) -> None:
    rules, _ = _edited_rules(tmp_path, "      - create_date ", "      # create_date ")
    cfg = _config(tmp_path, pagila_src, rules, pg, "dct_unused")
    done = run_in_process("check", "-c", str(cfg))
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "  public.customer:\n    keep: [create_date]" in output, output


def test_unclassified_column_with_strict_false_copies_and_warns(
    pg, pagila_src, target_name, tmp_path
) -> None:
    rules, _ = _edited_rules(tmp_path, "      - create_date ", "      # create_date ", strict=False)
    cfg = _config(tmp_path, pagila_src, rules, pg, target_name)
    done = _refresh(cfg, "--yes", run=run_in_process)
    assert done.returncode == 0, _text(done)
    warning = _text(done)
    assert "warning:" in warning and "public.customer" in warning
    assert "create_date" in warning and "strict: false" in warning
    query = "SELECT customer_id, create_date FROM customer ORDER BY 1"
    with pg.connect(pagila_src.rsplit("/", 1)[1]) as src, pg.connect(target_name) as dst:
        assert dst.execute(query).fetchall() == src.execute(query).fetchall()

    # check warns and passes; the CI gate `check --strict` fails on the warning
    done = run_in_process("check", "-c", str(cfg))
    assert done.returncode == 0, _text(done)
    assert "create_date" in _text(done)
    _assert_fails(run_in_process("check", "--strict", "-c", str(cfg)), 1, "create_date", "--strict")


def test_check_on_good_config_exits_0(pg, pagila_src, tmp_path) -> None:
    cfg = write_config(tmp_path, pagila_src, PAGILA_RULES, {"dev": pg.url("dct_unused")})
    done = run_in_process("check", "-c", str(cfg))
    assert done.returncode == 0, _text(done)
    assert "every column classified" in done.stdout
    assert "Traceback" not in done.stderr
    assert not pg.exists("dct_unused")


# --- refresh ----------------------------------------------------------------------


def test_refresh_without_yes_in_a_non_interactive_run_is_refused(
    pg, pagila_src, target_name, tmp_path
) -> None:
    cfg = _config(tmp_path, pagila_src, PAGILA_RULES, pg, target_name)
    done = _refresh(cfg)
    _assert_fails(done, 1, "non-interactive", "pass --yes")
    _assert_nothing_created(pg, target_name)


def test_refresh_json_report(pg, pagila_src, target_name, tmp_path) -> None:
    cfg = _config(tmp_path, pagila_src, PAGILA_RULES, pg, target_name)
    done = _refresh(cfg, "--yes", "--json")
    assert done.returncode == 0, _text(done)
    report = json.loads(done.stdout)  # stdout holds the report and nothing else
    assert report["environment"] == "dev"
    assert target_name in report["target"]
    tables = {t["table"]: t for t in report["tables"]}
    customer = tables["public.customer"]
    assert customer["action"] == "masked"
    assert customer["masked_columns"] == ["first_name", "last_name", "email"]
    assert tables["public.language"]["action"] == "copied"
    assert tables["public.language"]["masked_columns"] == []
    with pg.connect(target_name) as dst:
        for name, table in tables.items():
            schema, _, rel = name.partition(".")
            count = sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.Identifier(schema, rel))
            assert table["rows"] == dst.execute(count).fetchone()[0], name
    assert report["totals"] == {
        "tables": len(report["tables"]),
        "rows": sum(t["rows"] for t in report["tables"]),
        "masked_columns": sum(len(t["masked_columns"]) for t in report["tables"]),
    }
    assert report["totals"]["masked_columns"] >= 10


DIGESTS = [
    f"SELECT md5(string_agg(t::text, '' ORDER BY t::text)) FROM {table} t"
    for table in ("customer", "staff", "address", "actor", "payment")
] + [
    f"SELECT max(last_update)::text FROM {table}"
    for table in ("customer", "staff", "address", "actor", "rental")
]


def test_the_source_is_never_written(pg, pagila_src, target_name, tmp_path) -> None:
    source = pagila_src.rsplit("/", 1)[1]

    def digest() -> list[str]:
        with pg.connect(source) as conn:
            return [conn.execute(query).fetchone()[0] for query in DIGESTS]

    before = digest()
    cfg = _config(tmp_path, pagila_src, PAGILA_RULES, pg, target_name)
    done = _refresh(cfg, "--yes")
    assert done.returncode == 0, _text(done)
    assert digest() == before


# --- a failure half-way ------------------------------------------------------------

CHECK_TABLE = (
    "CREATE TABLE t (id int PRIMARY KEY, "
    "email text CHECK (id < 5000 OR email LIKE '%@corp.example'))"
)
KEEP_RULES = "tables:\n  public.t:\n    keep: [id, email]\n"
MASK_RULES = "tables:\n  public.t:\n    keep: [id]\n    mask:\n      email: {faker: email}\n"
TARGET_DIGEST = "SELECT md5(string_agg(t::text, '' ORDER BY t::text)) FROM t"


@pytest.fixture(scope="module")
def check_src(pg, run_id):
    """A source whose CHECK constraint the masked emails violate from row 5000."""
    name = f"dct_{run_id}_check"
    pg.create(name)
    with pg.connect(name) as conn:
        conn.execute(CHECK_TABLE)
        conn.execute(
            "INSERT INTO t SELECT i, 'user' || i || '@corp.example' FROM generate_series(1, 6000) i"
        )
    yield pg.url(name)
    pg.drop(name)


def _rules_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_failure_half_way_leaves_the_target_as_it_was(pg, check_src, target_name, tmp_path) -> None:
    keep = _rules_file(tmp_path, "keep.yml", KEEP_RULES)
    mask = _rules_file(tmp_path, "mask.yml", MASK_RULES)
    done = _refresh(_config(tmp_path, check_src, keep, pg, target_name), "--yes")
    assert done.returncode == 0, _text(done)
    with pg.connect(target_name) as dst:
        before = dst.execute(TARGET_DIGEST).fetchone()[0]
        assert dst.execute("SELECT count(*) FROM t").fetchone()[0] == 6000

    done = _refresh(_config(tmp_path, check_src, mask, pg, target_name), "--yes")
    assert done.returncode == 1, _text(done)
    assert pg.exists(target_name)
    assert not pg.exists(target_name + "__dc_new")
    with pg.connect(target_name) as dst:
        assert dst.execute(TARGET_DIGEST).fetchone()[0] == before


def test_failure_half_way_is_a_message_not_a_stack_trace(
    pg, check_src, target_name, tmp_path
) -> None:
    mask = _rules_file(tmp_path, "mask.yml", MASK_RULES)
    done = _refresh(_config(tmp_path, check_src, mask, pg, target_name), "--yes")
    _assert_nothing_created(pg, target_name)
    _assert_fails(done, 1, "error:", "public.t", "row 5000", "check constraint", "not changed")
    # the server quotes the failing row; the message must not (it may be personal data)
    assert "@example." not in done.stdout + done.stderr
    assert "Failing row" not in done.stdout + done.stderr
