"""MySQL/MariaDB beyond the engine contract (tests/engines): Sakila refreshed
with its views, triggers and routines working in the copy; a read-only source
user; the same fake for the same value on PostgreSQL and MariaDB; foreign keys
checked by anti-join; errors that never show a value; archives refused."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from conftest import FIXTURES, MyServer, PgServer, _missing
from helpers import ROOT, run_cli, run_in_process, write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.core.config import load_config
from datacloner.core.errors import Refused
from datacloner.core.progress import QuietProgress
from datacloner.engines.mysql.connection import error_text
from datacloner.engines.mysql.keys import split_keys
from datacloner.engines.mysql.load import _escaped_text, _tsv
from datacloner.engines.mysql.source import count_orphans, foreign_keys
from datacloner.runtime import refresh as runtime

SECRET = "mysql-test-secret-0123456789"


def _refresh(config: Path, jobs: int = 1) -> runtime.Report:
    return runtime.refresh(
        load_config(config), "dev", QuietProgress(), confirm=lambda t: None, jobs=jobs
    )


@pytest.fixture(scope="session")
def sakila(mariadb: MyServer, run_id: str) -> Iterator[str]:
    """Sakila (MySQL's sample database) under a schema of this run's own."""
    name = f"dct_{run_id}_sakila"
    files = [FIXTURES / "sakila" / f for f in ("sakila-schema.sql", "sakila-data.sql")]
    if not all(f.exists() for f in files):
        _missing(f"fixture {files[0].parent} is missing")
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        _missing("no mariadb/mysql client to load Sakila")
    script = "\n".join(f.read_text() for f in files)
    script = re.sub(r"\bsakila\b(?=[;.])", name, script)  # its hard-coded schema name
    subprocess.run(
        [client, "-h", mariadb.host, "-P", str(mariadb.port), "-u", mariadb.user],
        input=script.encode(),
        check=True,
        capture_output=True,
    )
    yield name
    mariadb.drop(name)


@pytest.fixture
def target(mariadb: MyServer, run_id: str) -> Iterator[str]:
    name = f"dct_{run_id}_my{uuid.uuid4().hex[:4]}"
    yield name
    mariadb.drop(*(name + s for s in ("", "__dc_new", "__dc_prev", "__dc_prev2", "__dc_tmp")))


def _one(server: MyServer, sql: str, schema: str) -> str:
    """The first value, as text."""
    value = server.query(sql, schema)[0][0]
    return value.decode() if isinstance(value, bytes) else str(value)


def _tables(server: MyServer, schema: str) -> list[str]:
    return [
        r[0].decode() if isinstance(r[0], bytes) else str(r[0])
        for r in server.query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
            f"'{schema}' AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE "
            "'\\_\\_datacloner\\_%' ORDER BY 1"
        )
    ]


def _names(server: MyServer, sql: str) -> set[str]:
    return {str(r[0]) for r in server.query(sql)}


def test_sakila_refreshed_with_views_triggers_routines(
    mariadb: MyServer, sakila: str, target: str, tmp_path: Path
) -> None:
    tables = _tables(mariadb, sakila)
    checksum = f"CHECKSUM TABLE {', '.join(f'`{t}`' for t in tables)}"
    before = mariadb.query(checksum, sakila)
    config = write_config(
        tmp_path,
        mariadb.url(sakila),
        ROOT / "rules" / "sakila-mysql.yml",
        {"dev": mariadb.url(target)},
        secret=SECRET,
    )
    report = _refresh(config, jobs=2)  # two readers on one snapshot (FLUSH TABLES WITH READ LOCK)
    # (another test's long statement may keep the global lock out: one reader then)
    assert all("FLUSH TABLES WITH READ LOCK" in w for w in report.warnings if "--jobs" in w)
    assert mariadb.query(checksum, sakila) == before  # the source is only read

    # every table, every row
    assert _tables(mariadb, target) == tables
    for t in tables:
        counted = f"SELECT count(*) FROM `{t}`"
        assert _one(mariadb, counted, target) == _one(mariadb, counted, sakila), t
    assert report.rows == sum(
        int(_one(mariadb, f"SELECT count(*) FROM `{t}`", sakila)) for t in tables
    )

    # every foreign key holds (checked by anti-join: foreign_key_checks checks nothing)
    conn = mariadb.connect()
    try:
        fks = foreign_keys(conn, target)
        assert len(fks) >= 20
        assert {fk.name: count_orphans(conn, target, fk) for fk in fks} == {
            fk.name: 0 for fk in fks
        }
    finally:
        conn.close()
    # keys and foreign keys, added after the rows (engines/mysql/keys.py), as the source's
    for t in tables:
        show = f"SHOW CREATE TABLE `{t}`"
        assert mariadb.query(show, target) == mariadb.query(show, sakila), t

    # views, triggers and routines are there and work on the copy's own tables
    for kind, query in (
        ("views", "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{}'"),
        (
            "triggers",
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{}'",
        ),
        (
            "routines",
            "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{}'",
        ),
    ):
        assert _names(mariadb, query.format(target)) == _names(mariadb, query.format(sakila)), kind
    assert (
        len(
            _names(
                mariadb,
                f"SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{target}'",
            )
        )
        == 7
    )
    for view in ("film_list", "sales_by_store", "actor_info"):
        counted = f"SELECT count(*) FROM `{view}`"
        assert _one(mariadb, counted, target) == _one(mariadb, counted, sakila), view
    # a view of the copy reads the copy: customer_list shows masked names
    names = {r[0] for r in mariadb.query("SELECT name FROM customer_list", target)}
    assert not names & {r[0] for r in mariadb.query("SELECT name FROM customer_list", sakila)}
    for call in ("SELECT inventory_in_stock(10)", "SELECT get_customer_balance(5, '2005-09-01')"):
        assert _one(mariadb, call, target) == _one(mariadb, call, sakila), call
    # the trigger copies a new film into film_text, in the copy only
    mariadb.execute("INSERT INTO film (title, language_id) VALUES ('DATACLONER TEST', 1)", target)
    added = "SELECT count(*) FROM film_text WHERE title = 'DATACLONER TEST'"
    assert _one(mariadb, added, target) == "1"
    assert _one(mariadb, added, sakila) == "0"

    # personal values are gone; emails unique; kept columns identical
    emails = [
        r[0] for r in mariadb.query("SELECT email FROM customer ORDER BY customer_id", target)
    ]
    source_emails = {r[0] for r in mariadb.query("SELECT email FROM customer", sakila)}
    assert not set(emails) & source_emails and len(set(emails)) == len(emails)
    kept = "SELECT customer_id, store_id, address_id, active, create_date FROM customer ORDER BY 1"
    assert mariadb.query(kept, target) == mariadb.query(kept, sakila)


def _people_pg(pg: PgServer, name: str) -> str:
    pg.drop(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg.connect(name) as conn:
        conn.execute(
            "CREATE TABLE people (id integer PRIMARY KEY, email varchar(120), name varchar(80))"
        )
        conn.execute(
            "INSERT INTO people VALUES (1, 'ann@corp.example', 'Ann Lee'), "
            "(2, 'bob@corp.example', 'Bob Ray'), (3, NULL, 'Cy Twombly')"
        )
    return pg.url(name)


def _people_my(server: MyServer, name: str) -> str:
    server.drop(name)
    server.execute(f"CREATE DATABASE `{name}`")
    server.execute(
        "CREATE TABLE people (id int PRIMARY KEY, email varchar(120), name varchar(80));"
        "INSERT INTO people VALUES (1, 'ann@corp.example', 'Ann Lee'), "
        "(2, 'bob@corp.example', 'Bob Ray'), (3, NULL, 'Cy Twombly');",
        name,
    )
    return server.url(name)


PEOPLE_RULES = """\
tables:
  {p}people:
    mask:
      email: email
      name: name
    keep: [id]
"""


def test_same_value_same_fake_on_postgresql_and_mariadb(
    pg: PgServer, mariadb: MyServer, run_id: str, target: str, tmp_path: Path
) -> None:
    pg_src, pg_dst = f"dct_{run_id}_people", f"dct_{run_id}_people_dev"
    my_src = f"dct_{run_id}_people"
    try:
        copies = []
        for folder, source, dest, prefix in (
            (tmp_path / "pg", _people_pg(pg, pg_src), pg.url(pg_dst), "public."),
            (tmp_path / "my", _people_my(mariadb, my_src), mariadb.url(target), ""),
        ):
            folder.mkdir()
            (folder / "rules.yml").write_text(PEOPLE_RULES.format(p=prefix))
            _refresh(write_config(folder, source, "rules.yml", {"dev": dest}, secret=SECRET))
            copies.append(folder)
        with pg.connect(pg_dst) as conn:
            on_pg = [
                tuple(r) for r in conn.execute("SELECT id, email, name FROM people ORDER BY id")
            ]
        on_my = [
            (int(i), e, n)
            for i, e, n in mariadb.query("SELECT id, email, name FROM people ORDER BY id", target)
        ]
        assert on_pg == on_my
        assert on_my[2][1] is None and on_my[0][1] != "ann@corp.example"
    finally:
        pg.drop(pg_src, pg_dst, pg_dst + "__dc_new", pg_dst + "__dc_prev")
        mariadb.drop(my_src)


def test_read_only_source_user_and_orphans_refused(
    mariadb: MyServer, run_id: str, target: str, tmp_path: Path
) -> None:
    """The source needs SELECT and SHOW VIEW only, and is never written (the
    server would refuse it; its checksums are unchanged); a masked foreign key
    that leaves orphans fails the run with the target untouched."""
    src = f"dct_{run_id}_ro"
    user = f"dc_ro_{run_id}"
    mariadb.drop(src)
    mariadb.execute(f"CREATE DATABASE `{src}`")
    mariadb.execute(
        "CREATE TABLE parent (id int PRIMARY KEY, name varchar(40));"
        "CREATE TABLE child (id int PRIMARY KEY, parent_id int, FOREIGN KEY (parent_id) "
        "REFERENCES parent(id));"
        "INSERT INTO parent VALUES (1, 'one'), (2, 'two');"
        "INSERT INTO child VALUES (1, 1), (2, 2), (3, NULL);"
        "CREATE VIEW both_ AS SELECT c.id, p.name FROM child c "
        "JOIN parent p ON p.id = c.parent_id;",
        src,
    )
    mariadb.execute(
        f"DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%'; "
        f"GRANT SELECT, SHOW VIEW ON `{src}`.* TO '{user}'@'%';"
    )
    checksum = "CHECKSUM TABLE parent, child EXTENDED"
    unchanged = mariadb.query(checksum, src)
    try:
        source = f"mysql://{user}@{mariadb.host}:{mariadb.port}/{src}"
        (tmp_path / "rules.yml").write_text(
            "tables:\n  parent:\n    unless: \"name LIKE 'o%'\"\n    mask: {name: first_name}\n"
            "    keep: [id]\n  child:\n    keep: [id, parent_id]\n"
        )
        config = write_config(tmp_path, source, "rules.yml", {"dev": mariadb.url(target)})
        report = _refresh(config, jobs=2)
        # no RELOAD privilege: one reader, and the report says so
        assert any("--jobs 2: FLUSH TABLES WITH READ LOCK" in w for w in report.warnings)
        assert _one(mariadb, "SELECT count(*) FROM both_", target) == "2"
        assert _one(mariadb, "SELECT count(*) FROM child", target) == "3"
        # `unless` (a LIKE pattern: its % reaches the server as written) keeps row 1
        names = mariadb.query("SELECT name FROM parent ORDER BY id", target)
        assert names[0] == ("one",) and names[1] != ("two",)
        before = mariadb.query("SELECT * FROM child ORDER BY id", target)

        (tmp_path / "rules.yml").write_text(
            "tables:\n  parent:\n    mask: {name: first_name}\n    keep: [id]\n"
            "  child:\n    mask: {parent_id: {faker: random_int, args: {min: 100, max: 200}}}\n"
            "    keep: [id]\n"
        )
        with pytest.raises(Refused, match="foreign keys broken in the new copy: child"):
            _refresh(config)
        assert mariadb.query("SELECT * FROM child ORDER BY id", target) == before
        assert not mariadb.exists(target + "__dc_new")
        assert mariadb.query(checksum, src) == unchanged  # the source is only read
        grants = " ".join(str(r[0]) for r in mariadb.query(f"SHOW GRANTS FOR '{user}'@'%'"))
        assert "SELECT, SHOW VIEW ON" in grants and "INSERT" not in grants  # nothing else
    finally:
        mariadb.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        mariadb.drop(src)


def test_a_masked_value_repeated_in_a_unique_key_is_refused(
    mariadb: MyServer, run_id: str, target: str, tmp_path: Path
) -> None:
    """The unique key is added after the rows (engines/mysql/keys.py): a rule
    that gives every row the same value fails there, without the value."""
    src = f"dct_{run_id}_uniq"
    mariadb.drop(src)
    mariadb.execute(f"CREATE DATABASE `{src}`")
    mariadb.execute(
        "CREATE TABLE people (id int PRIMARY KEY, email varchar(120), UNIQUE KEY (email));"
        "INSERT INTO people VALUES (1, 'ann@corp.example'), (2, 'bob@corp.example');",
        src,
    )
    try:
        (tmp_path / "rules.yml").write_text(
            "tables:\n  people:\n    mask:\n      email: {value: same@dev.example}\n"
            "    keep: [id]\n"
        )
        config = write_config(tmp_path, mariadb.url(src), "rules.yml", {"dev": mariadb.url(target)})
        with pytest.raises(Refused, match="adding its keys to people") as caught:
            _refresh(config)
        assert "same@dev" not in str(caught.value) and "1062" in str(caught.value)
        assert not mariadb.exists(target + "__dc_new")
    finally:
        mariadb.drop(src)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.text(alphabet="aN\\\t\n\ré", max_size=5)), min_size=1),
        min_size=1,
        max_size=4,
    )
)
def test_load_data_rows_joined_whole_equal_the_field_by_field_escaping(
    batch: list[list[str | None]],
) -> None:
    """A row is joined as it is unless it holds a backslash (besides its NULLs'
    \\N), a tab or a newline: the text LOAD DATA reads is the escaped one."""
    expected = "".join(
        "\t".join("\\N" if v is None else _escaped_text(v) for v in row) + "\n" for row in batch
    )
    assert _tsv(batch) == expected.encode()


def test_a_partitioned_table_keeps_every_key_in_its_create_table(
    mariadb: MyServer, run_id: str
) -> None:
    """MariaDB writes the partition clause over several lines after the column
    list: such a table's keys stay in CREATE TABLE (a unique key may be its
    clustered index), a plain table's secondary key is moved out."""
    src = f"dct_{run_id}_parts"
    mariadb.drop(src)
    mariadb.execute(f"CREATE DATABASE `{src}`")
    mariadb.execute(
        "CREATE TABLE p (id int NOT NULL, k int, PRIMARY KEY (id), KEY k (k))"
        " PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10),"
        " PARTITION p1 VALUES LESS THAN MAXVALUE);"
        "CREATE TABLE t (id int NOT NULL, k int, PRIMARY KEY (id), KEY k (k));",
        src,
    )
    try:
        with mariadb.connect(src) as conn, conn.cursor() as cur:
            statements = {}
            for table in ("p", "t"):
                cur.execute(f"SHOW CREATE TABLE `{table}`")
                statements[table] = cur.fetchone()[1]
        assert "\n PARTITION BY" in statements["p"]  # not on the last line
        assert split_keys(statements["p"]) == (statements["p"], [], [])
        create, keys, foreign = split_keys(statements["t"])
        assert keys == ["KEY `k` (`k`)"] and foreign == [] and "KEY `k`" not in create
    finally:
        mariadb.drop(src)


def test_errors_never_show_a_value(mariadb: MyServer, run_id: str) -> None:
    name = f"dct_{run_id}_err"
    mariadb.drop(name)
    mariadb.execute(f"CREATE DATABASE `{name}`")
    mariadb.execute(
        "CREATE TABLE t (email varchar(80) UNIQUE); INSERT INTO t VALUES ('secret@corp.example')",
        name,
    )
    conn = mariadb.connect(name)
    try:
        with pytest.raises(pymysql.err.IntegrityError) as caught, conn.cursor() as cur:
            cur.execute("INSERT INTO t VALUES ('secret@corp.example')")
        shown = error_text(caught.value)
        assert "secret" not in shown and "duplicate entry for key" in shown and "1062" in shown
        with pytest.raises(pymysql.err.DataError) as caught, conn.cursor() as cur:
            cur.execute("SET sql_mode = 'STRICT_ALL_TABLES'")
            cur.execute("INSERT INTO t VALUES (REPEAT('private', 20))")
        assert "private" not in error_text(caught.value)
    finally:
        conn.close()
        mariadb.drop(name)


def test_archives_are_refused_with_a_reason(mariadb: MyServer, tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text("tables: {}\n")
    config = write_config(
        tmp_path, mariadb.url("dct_nothing"), "rules.yml", {"dev": mariadb.url("dct_nothing_dev")}
    )
    done = run_in_process("dump", str(tmp_path / "x.dcz"), "-c", str(config), "--unsigned")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "this URL is MySQL/MariaDB" in done.stderr


FIDELITY = r"""
CREATE TABLE odd (
  id int PRIMARY KEY AUTO_INCREMENT,
  who varchar(40) CHARACTER SET latin1 COLLATE latin1_swedish_ci,
  emoji varchar(20) CHARACTER SET utf8mb4,
  raw blob,
  made date,
  at timestamp NULL,
  price decimal(12, 4),
  doc json,
  mood enum('sad', 'glad'),
  tags set('a', 'b', 'c'),
  twice int AS (id * 2) VIRTUAL,
  FULLTEXT KEY (who)
) ENGINE=InnoDB AUTO_INCREMENT=500;
INSERT INTO odd (id, who, emoji, raw, made, at, price, doc, mood, tags) VALUES
 (1, 'Zoé', 'ok 🎉', X'00095C0A0DFF27', '0000-00-00', '2024-03-01 12:00:00', 12.3400,
  '{"a": [1, "x y"]}', 'glad', 'a,c'),
 (2, NULL, '', '', '2024-02-29', NULL, -0.0001, NULL, NULL, ''),
 (3, 'tab\there', 'new\nline', 'back\\slash', '1999-12-31', '1970-01-01 00:00:01', 0, 'null',
  'sad', 'b');
CREATE TABLE plain (id int PRIMARY KEY, ratio double, small float, price decimal(30, 10),
  at datetime(6), span time, yr year, who text CHARACTER SET latin1, doc json,
  mood enum('sad', 'glad'), made date);
INSERT INTO plain VALUES
 (1, 0.1, 1.5, 12345678901234567890.0123456789, '2024-01-02 03:04:05.000006', '-838:59:59',
  1999, 'Zoé\t\n\\N \\', '{"k": "v"}', 'glad', '0000-00-00'),
 (2, 1e300, -0.000001, -1, NULL, '00:00:00', NULL, '\\N', NULL, NULL, NULL),
 (3, NULL, NULL, NULL, '1000-01-01 00:00:00', NULL, 2155, '', '[]', 'sad', '2024-02-29');
CREATE TABLE journal (id int PRIMARY KEY, line text) ENGINE=MyISAM;
INSERT INTO journal VALUES (1, 'not in the snapshot');
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM journal WHERE id < 0;
CREATE TABLE shapes (id int PRIMARY KEY, flags bit(5), place point);
INSERT INTO shapes VALUES (1, b'10101', ST_GeomFromText('POINT(1 2)')), (2, NULL, NULL),
 (3, b'0', ST_GeomFromText('POINT(-1.5 0)'));
"""


def test_types_survive_byte_for_byte_and_keep_two(
    mariadb: MyServer, run_id: str, target: str, tmp_path: Path
) -> None:
    """Every kept value, as the server spells it, whatever its type (zero
    dates, binary with tabs and newlines, latin1, bit, geometry, generated
    columns, AUTO_INCREMENT); `keep: 2` keeps two previous copies."""
    src = f"dct_{run_id}_odd"
    mariadb.drop(src)
    mariadb.execute(f"CREATE DATABASE `{src}`")
    mariadb.execute("SET SESSION sql_mode = ''; " + FIDELITY, src)
    try:
        (tmp_path / "rules.yml").write_text(
            "tables:\n  odd:\n    keep: [id, who, emoji, raw, made, at, price, doc, mood, tags]\n"
            "  shapes:\n    keep: [id, flags, place]\n  journal:\n    keep: [id, line]\n"
            "  plain:\n    keep: [id, ratio, small, price, at, span, yr, who, doc, mood, made]\n"
        )
        config = write_config(tmp_path, mariadb.url(src), "rules.yml", {"dev": mariadb.url(target)})
        config.write_text(config.read_text() + "    keep: 2\n")
        reports = [_refresh(config) for _ in range(3)]
        # MyISAM is outside the snapshot: named in a warning
        assert any("non-transactional" in w and "journal" in w for w in reports[0].warnings)
        events = (
            "SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{}'"
        )
        assert mariadb.query(events.format(target)) == mariadb.query(events.format(src))
        checksum = "CHECKSUM TABLE odd, shapes, plain"
        assert [r[1] for r in mariadb.query(checksum, target)] == [
            r[1] for r in mariadb.query(checksum, src)
        ]
        every = (
            "SELECT *, HEX(raw) FROM odd ORDER BY id",
            "SELECT id, HEX(flags), ST_AsText(place) FROM shapes ORDER BY id",
            "SHOW CREATE TABLE odd",
            "SELECT *, HEX(who) FROM plain ORDER BY id",
        )
        for query in every:
            assert mariadb.query(query, target) == mariadb.query(query, src)
            assert mariadb.query(query, target + "__dc_prev2") == mariadb.query(query, src)
        done = run_in_process("status", "dev", "-c", str(config), "--json")
        assert done.returncode == 0, done.stderr
        assert done.stdout.count('"role"') == 3
    finally:
        mariadb.drop(src)


def test_on_busy_fail_and_terminate_under_a_metadata_lock(
    mariadb: MyServer, run_id: str, target: str, tmp_path: Path
) -> None:
    src = f"dct_{run_id}_busy"
    mariadb.drop(src)
    mariadb.execute(f"CREATE DATABASE `{src}`")
    mariadb.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)", src)
    try:
        (tmp_path / "rules.yml").write_text("tables:\n  t:\n    keep: [id]\n")
        config = write_config(tmp_path, mariadb.url(src), "rules.yml", {"dev": mariadb.url(target)})
        _refresh(config)
        config.write_text(config.read_text() + "    on_busy: fail\n")
        reader = mariadb.connect(target)  # an open transaction holds t's metadata lock
        try:
            with reader.cursor() as cur:
                cur.execute("START TRANSACTION")
                cur.execute("SELECT count(*) FROM t")
            with pytest.raises(Refused, match="on_busy: fail"):
                runtime.refresh(
                    load_config(config),
                    "dev",
                    QuietProgress(),
                    confirm=lambda t: None,
                    drain_timeout=1,
                )
        finally:
            reader.close()
        assert _one(mariadb, "SELECT count(*) FROM t", target) == "2"
        assert not mariadb.exists(target + "__dc_new")

        # on_busy: terminate ends the session holding the lock, then swaps
        config.write_text(config.read_text().replace("on_busy: fail", "on_busy: terminate"))
        reader = mariadb.connect(target)
        try:
            with reader.cursor() as cur:
                cur.execute("START TRANSACTION")
                cur.execute("SELECT count(*) FROM t")
            report = runtime.refresh(
                load_config(config), "dev", QuietProgress(), confirm=lambda t: None, drain_timeout=1
            )
            assert any("ended 1 session(s)" in w for w in report.warnings)
            with pytest.raises(pymysql.err.OperationalError), reader.cursor() as cur:
                cur.execute("SELECT 1")  # its session was ended
        finally:
            reader.close()
    finally:
        mariadb.drop(src)


def test_verify_fails_without_a_value_when_the_source_sample_cannot_be_read(
    mariadb: MyServer, run_id: str, target: str, tmp_path: Path
) -> None:
    """Between refresh and verify the source changed: the function a table's
    `unless:` calls now raises with the row's value in its message (SIGNAL).
    verify fails, naming the column, never printing the value."""
    src = f"dct_{run_id}_vfy"
    mariadb.drop(src)
    mariadb.execute(f"CREATE DATABASE `{src}`")
    mariadb.execute(
        "CREATE TABLE people (id int PRIMARY KEY, email varchar(80));"
        "INSERT INTO people VALUES (1, 'ann@private.example'), (2, 'bob@private.example');"
        "CREATE FUNCTION vip(v varchar(80)) RETURNS int DETERMINISTIC RETURN 0;",
        src,
    )
    try:
        (tmp_path / "rules.yml").write_text(
            "tables:\n  people:\n    mask: {email: email}\n    keep: [id]\n"
            '    unless: "vip(email) = 1"\n'
        )
        config = write_config(tmp_path, mariadb.url(src), "rules.yml", {"dev": mariadb.url(target)})
        _refresh(config)
        assert run_in_process("verify", "dev", "-c", str(config)).returncode == 0
        mariadb.execute(
            # the first row passes (verify's check of the condition reads one), bob's raises
            "DROP FUNCTION vip; CREATE FUNCTION vip(v varchar(80)) RETURNS int DETERMINISTIC "
            "BEGIN IF v LIKE 'bob%' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v; END IF; "
            "RETURN 0; END",
            src,
        )
        done = run_cli("verify", "dev", "-c", str(config))
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"cannot sample {src}.people.email in the source" in done.stderr
        assert "raised an error (SIGNAL) (MySQL error 1644)" in done.stderr  # not its text
        assert "private.example" not in done.stdout + done.stderr
    finally:
        mariadb.drop(src)


def test_check_and_preview_on_sakila(mariadb: MyServer, sakila: str, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        mariadb.url(sakila),
        ROOT / "rules" / "sakila-mysql.yml",
        {"dev": mariadb.url("dct_unused")},
        secret=SECRET,
    )
    result = runtime.check(load_config(config))  # `datacloner check`, in process
    assert len(result.plan.tables) == 16 and result.source["database"] == sakila
    done = run_cli("preview", "customer", "--rows", "2", "-c", str(config))  # as a user reads it
    assert done.returncode == 0, done.stdout + done.stderr
    real = {r[0] for r in mariadb.query("SELECT email FROM customer", sakila)}
    shown = set(re.findall(r"[\w.+-]+@[\w.-]+", done.stdout))
    assert shown & real and shown - real  # each original beside its fake


def test_protected_host_is_refused_under_another_spelling(
    mariadb: MyServer, target: str, tmp_path: Path
) -> None:
    (tmp_path / "rules.yml").write_text("tables: {}\n")
    config = write_config(
        tmp_path,
        mariadb.url("dct_nothing"),
        "rules.yml",
        {"dev": f"mysql://root@127.0.0.1:{mariadb.port}/{target}"},
        extra="protected: [localhost]\n",
    )
    done = run_in_process("refresh", "dev", "-c", str(config), "--yes")
    assert done.returncode != 0
    assert "protected host localhost" in done.stderr
    assert not mariadb.exists(target + "__dc_new") and not mariadb.exists(target)
