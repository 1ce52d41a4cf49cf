"""Nothing personal or secret in any output: no row value (source or masked) in
an error, whatever the database said; no secret, ${VAR} value or URL password
in anything printed or stored; a weak secret refused.

Every test plants distinctive values and asserts they are absent from stdout,
stderr and the --json report, byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli, write_config

EMAILS = [
    "zq_personal_7731@example.org",
    "zq_second_8842@example.org",
    "zq_third_9953@example.org",
    "zq_fourth_1164@example.org",
]
NAMES = ["Zqalpha Personsen", "Zqbeta Personsen", "Zqgamma Personsen", "Zqdelta Personsen"]
NOTE_LINES = ["zq_first_line_4410", "zq_hidden_line_5521"]  # one note holds both lines
PK_EMAILS = ["zq_pk_4417@example.org", "zq_pk_5528@example.org"]
# every value of the source that a message could quote
PLANTED = [*EMAILS, *NAMES, *NOTE_LINES, *PK_EMAILS, "zq_doc_6631"]

SOURCE_SQL = f"""
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE users (
    id int PRIMARY KEY, email text UNIQUE NOT NULL, name text
        CHECK (name <> 'zq_forbidden_name'),
    note text, m mood);
INSERT INTO users VALUES
  (1, '{EMAILS[0]}', '{NAMES[0]}', 'plain', 'happy'),
  (2, '{EMAILS[1]}', '{NAMES[1]}', E'{NOTE_LINES[0]}\\n{NOTE_LINES[1]}', 'sad'),
  (3, '{EMAILS[2]}', '{NAMES[2]}', 'x', 'happy'),
  (4, '{EMAILS[3]}', '{NAMES[3]}', 'y', 'sad');
CREATE TABLE contacts (email text PRIMARY KEY, doc text);
INSERT INTO contacts VALUES ('{PK_EMAILS[0]}', 'not json zq_doc_6631'),
                            ('{PK_EMAILS[1]}', 'not json zq_doc_6631');
"""
SECRET = "zq-secret-value-0123456789"
CONTACTS_KEEP = "  public.contacts: {keep: [email, doc]}\n"


@pytest.fixture(scope="module")
def src(pg, run_id, tmp_path_factory) -> Iterator[str]:
    name = f"dct_{run_id}_redact"
    sql_file = tmp_path_factory.mktemp("redact") / "source.sql"
    sql_file.write_text(SOURCE_SQL)
    url = pg.create(name, sql_file)
    yield url
    pg.drop(name)


def _refresh(folder: Path, src: str, target: str, users: str, *more: str, contacts: str = ""):
    rules = folder / "rules.yml"
    rules.write_text(f"tables:\n  public.users:\n{users}" + (contacts or CONTACTS_KEEP))
    cfg = write_config(folder, src, rules, {"dev": target}, secret=SECRET)
    return run_cli("refresh", "dev", "-c", str(cfg), "--yes", "--json", *more)


def _said(done) -> str:
    return done.stdout + done.stderr


def _assert_absent(text: str, *values: str) -> None:
    for value in (*PLANTED, SECRET, *values):
        assert value not in text, f"{value!r} printed:\n{text}"
    assert "Traceback" not in text, text


JOBS = pytest.mark.parametrize("jobs", ["1", "2"])


# --- row values -----------------------------------------------------------------


@JOBS
@pytest.mark.parametrize("unless", ["email::int > 0", "1/(id-3) = 0"])
def test_unless_that_fails_on_a_row_names_the_table_never_the_row(
    pg, src, target_name, tmp_path, jobs, unless
) -> None:
    users = f'    mask: {{name: name}}\n    keep: [id, email, note, m]\n    unless: "{unless}"\n'
    done = _refresh(tmp_path, src, pg.url(target_name), users, "--jobs", jobs)
    assert done.returncode == 1, _said(done)
    _assert_absent(_said(done))
    assert "reading public.users from the source failed" in done.stderr
    assert "unless:" in done.stderr  # the hint says what to fix
    assert not pg.exists(target_name)


@JOBS
@pytest.mark.parametrize(
    "constant",
    ["x@example.com", "line1\\nzq_masked_2nd_line@example.com"],
    ids=["one-line", "multi-line"],
)
def test_unique_violation_names_constraint_and_column_never_the_value(
    pg, src, target_name, tmp_path, jobs, constant
) -> None:
    users = f'    mask: {{email: {{value: "{constant}"}}}}\n    keep: [id, name, note, m]\n'
    done = _refresh(tmp_path, src, pg.url(target_name), users, "--jobs", jobs)
    assert done.returncode == 1, _said(done)
    _assert_absent(_said(done), "x@example.com", "zq_masked_2nd_line", "line1")
    text = done.stderr
    assert "users_email_key" in text and "column email" in text and "public.users" in text
    assert "unique: true" in text  # the hint: how to fix the rule
    assert not pg.exists(target_name)


@JOBS
def test_type_error_while_loading_names_the_column_never_the_value(
    pg, src, target_name, tmp_path, jobs
) -> None:
    users = '    mask: {m: {value: "zq_not_a_mood_3390"}}\n    keep: [id, email, name, note]\n'
    done = _refresh(tmp_path, src, pg.url(target_name), users, "--jobs", jobs)
    assert done.returncode == 1, _said(done)
    _assert_absent(_said(done), "zq_not_a_mood_3390")
    assert "loading public.users" in done.stderr and "column m" in done.stderr
    assert "row 1" in done.stderr


@JOBS
def test_check_violation_never_prints_the_failing_row(pg, src, target_name, tmp_path, jobs):
    """PostgreSQL's DETAIL: Failing row contains (1, <email>, ...): kept source values."""
    users = '    mask: {name: {value: "zq_forbidden_name"}}\n    keep: [id, email, note, m]\n'
    done = _refresh(tmp_path, src, pg.url(target_name), users, "--jobs", jobs)
    assert done.returncode == 1, _said(done)
    _assert_absent(_said(done), "zq_forbidden_name")
    assert "users_name_check" in done.stderr


@JOBS
def test_a_personal_primary_key_is_never_printed(pg, src, target_name, tmp_path, jobs) -> None:
    """An email as the key: the row is named by its position, not its key."""
    users = "    keep: [id, email, name, note, m]\n"
    contacts = "  public.contacts:\n    mask: {doc: {json: {a: {value: 1}}}}\n    keep: [email]\n"
    done = _refresh(tmp_path, src, pg.url(target_name), users, "--jobs", jobs, contacts=contacts)
    assert done.returncode == 1, _said(done)
    _assert_absent(_said(done))
    assert "public.contacts.doc" in done.stderr and "invalid JSON" in done.stderr
    assert "row number 1 read" in done.stderr


# --- secrets --------------------------------------------------------------------


def _failing_url_config(folder: Path, src: str, url: str) -> Path:
    (folder / "rules.yml").write_text(
        "tables:\n  public.users: {keep: [id, email, name, note, m]}\n" + CONTACTS_KEEP
    )
    return write_config(folder, src, folder / "rules.yml", {"dev": url}, secret=SECRET)


@pytest.mark.parametrize(
    "password",
    ["zqPa@ss:w0rd_77", "zqPa@ssw0rd_77", "zq:Pass:w0rd_77", "zq%40Pass_77"],
)
def test_a_url_password_never_appears_in_any_output(pg, src, tmp_path, password) -> None:
    url = f"postgresql://u:{password}@127.0.0.1:1/"
    cfg = _failing_url_config(tmp_path, url + "prod", url + "dev")
    for args in (["refresh", "dev", "--yes", "--json"], ["status", "dev"], ["check", "--json"]):
        done = run_cli(*args, "-c", str(cfg))
        assert done.returncode != 0, _said(done)
        text = _said(done)
        pieces = [p for p in password.replace("@", ":").split(":") if len(p) >= 4]
        _assert_absent(text, password, *pieces, password.replace("%40", "@"))


def test_var_values_never_appear(pg, src, tmp_path, monkeypatch) -> None:
    """A user name, a host and a hook path from the environment: each is shown
    as *** wherever a message would quote it."""
    cfg = _failing_url_config(tmp_path, src, "postgresql://${ZQ_USER}:${ZQ_PASS}@127.0.0.1/db")
    env = {"ZQ_USER": "zq_user_from_env_51", "ZQ_PASS": "zq_pass_from_env_52"}
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", env=env)
    assert done.returncode == 2, _said(done)
    _assert_absent(_said(done), *env.values())
    assert "***" in done.stderr  # the role the server refused, masked

    cfg = _failing_url_config(tmp_path, src, "postgresql://postgres@${ZQ_HOST}:5432/db")
    env = {"ZQ_HOST": "zq-host-from-env-53.invalid"}
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", env=env)
    assert done.returncode == 2, _said(done)
    _assert_absent(_said(done), *env.values())


def test_hook_path_from_a_var_never_appears(pg, src, target_name, tmp_path) -> None:
    cfg = _failing_url_config(tmp_path, src, pg.url(target_name))
    cfg.write_text(cfg.read_text() + '    after: ["${ZQ_HOOK}"]\n')
    env = {"ZQ_HOOK": "zq_hook_from_env_54.sql"}
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", "--json", env=env)
    assert done.returncode == 2, _said(done)
    _assert_absent(_said(done), *env.values())
    assert "after: hook" in done.stderr


def test_the_secret_never_appears_in_the_report_or_the_stored_manifest(
    pg, src, target_name, tmp_path
) -> None:
    """The user name comes from a variable: *** in the report, on stdout and in
    the copy's own record of the refresh; the URL around it stays readable."""
    user = "zq_env_user_55"
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {user}")
        conn.execute(f"CREATE ROLE {user} LOGIN SUPERUSER")
    try:
        url = pg.url(target_name).replace(f"//{pg.user}@", "//${ZQ_USER}@")
        cfg = _failing_url_config(tmp_path, src, url)
        done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", "--json", env={"ZQ_USER": user})
        assert done.returncode == 0, _said(done)
        _assert_absent(_said(done), user)
        report = json.loads(done.stdout)
        assert report["target"].startswith("postgresql://***@") and target_name in report["target"]
        with pg.connect(target_name) as conn:
            (stored,) = conn.execute("SELECT manifest::text FROM datacloner.refreshes").fetchone()
        assert SECRET not in stored and user not in stored and "***" in stored
    finally:
        pg.drop(target_name, target_name + "__dc_new")
        with pg.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {user}")


# --- weak secrets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "says"),
    [('""', "is empty"), ("zq-15-bytes-key", "is too short (15 bytes)")],
    ids=["empty", "15 bytes"],
)
def test_a_weak_secret_is_refused_with_a_way_to_make_one(
    pg, src, target_name, tmp_path, secret, says
) -> None:
    cfg = _failing_url_config(tmp_path, src, pg.url(target_name))
    cfg.write_text(cfg.read_text().replace(f"secret: {SECRET}", f"secret: {secret}"))
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 2, _said(done)
    assert says in done.stderr
    assert f"{cfg}:2: secret:" in done.stderr  # the file and line
    assert "openssl rand -hex 32" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 2  # one error line, one hint line
    if "short" in says:  # present, just weak: nothing suggests it is missing
        for missing in ("not set", "no `secret", "missing", "Add `secret"):
            assert missing not in done.stderr
        assert "zq-15-bytes-key" not in _said(done)
    assert not pg.exists(target_name)


def test_a_16_byte_secret_is_accepted(pg, src, target_name, tmp_path) -> None:
    cfg = _failing_url_config(tmp_path, src, pg.url(target_name))
    cfg.write_text(cfg.read_text().replace(f"secret: {SECRET}", "secret: zq-16-bytes-key!"))
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 0, _said(done)
    assert "zq-16-bytes-key!" not in _said(done)


# --- the one function, on the server's own errors ----------------------------------


@pytest.mark.parametrize(
    ("statement", "shown"),
    [
        ("SELECT 'zq_value_1'::int", "invalid input syntax for type integer"),
        ("SELECT E'zq_a\\nzq_value_1'::int", "invalid input syntax for type integer"),
        ("SELECT 'zq_value_1'::date", "invalid input syntax for type date"),
        (
            "INSERT INTO t VALUES ('zq_value_1'), ('zq_value_1')",
            'duplicate key value violates unique constraint "t_pkey"',
        ),
        ("INSERT INTO t VALUES (NULL)", 'null value in column "e"'),
        (
            "DO $$BEGIN RAISE EXCEPTION 'zq_value_1 is %', 'zq_value_1'; END$$",
            "raised by a function or trigger",
        ),
        ("SELECT zq_value_1 FROM t", 'column "zq_value_1" does not exist'),  # SQL, not a row
    ],
)
def test_database_error_keeps_names_drops_values(pg, statement, shown) -> None:
    import psycopg

    from datacloner.core.redaction import database_error

    with pg.connect() as conn:
        conn.execute("CREATE TEMP TABLE t (e text PRIMARY KEY)")
        with pytest.raises(psycopg.Error) as info:
            conn.execute(statement)
    text = database_error(info.value, ["e"])
    assert shown in text
    if "does not exist" not in shown:
        assert "zq_" not in text, text
    assert "\n" not in text


def test_psql_errors_are_read_by_their_fields_not_their_text(pg) -> None:
    """A value with a newline that imitates psql's own field lines is still a value."""
    from datacloner.core.redaction import describe, from_psql

    forged = "a\\nTABLE NAME:  zq_forged_table\\nLOCATION:  f, x.c:1\\nb"
    script = (
        "CREATE TEMP TABLE t (e text);\n"
        f"INSERT INTO t VALUES (E'{forged}'), (E'{forged}');\n"
        "CREATE UNIQUE INDEX t_e_key ON t (e);\n"
    )
    done = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"],
        env={**os.environ, "PGHOST": pg.host, "PGPORT": str(pg.port), "PGUSER": pg.user},
        input=script,
        capture_output=True,
        text=True,
    )
    assert "zq_forged_table" in done.stderr  # psql printed it, in DETAIL
    error = from_psql(done.stderr)
    assert error is not None
    assert (error.sqlstate, error.table, error.constraint) == ("23505", "t", "t_e_key")
    text = describe(error)
    assert "zq_forged" not in text and "t_e_key" in text
