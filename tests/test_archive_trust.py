"""Archives run nothing but data into the target.

An attacker who can edit an archive can recompute its checksums but not its
signature. Restore refuses such an archive (exit 1) before anything runs; and
even an archive restored with --allow-unsigned, or signed with the real key,
gets no psql meta-command, no COPY to a program or file, no other database
touched: its statements are checked before the new database is created.
Damaged or foreign files exit 2 on one line, before anything is created."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import RULES, run_cli, run_in_process, write_config
from psycopg import sql

from datacloner.archive import sign as archive_sign
from datacloner.archive.sql import checked
from datacloner.core.errors import Refused

_KEY = Ed25519PrivateKey.generate()
DUMP_ENV = {archive_sign.PRIVATE_ENV: archive_sign.encode_private(_KEY)}
CI_ENV = {archive_sign.PUBLIC_ENV: archive_sign.encode_public(_KEY.public_key())}
PRE = "schema/pre-data.sql"
SECRET = "a-secret-of-the-dump-job-only"


@pytest.fixture(scope="module")
def signed(pg, pagila_src, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dump")
    cfg = write_config(
        folder, pagila_src, RULES / "pagila.yml", {"dev": pg.url("unused")}, secret=SECRET
    )
    done = run_cli("dump", str(folder / "snapshot.dcz"), "-c", str(cfg), env=DUMP_ENV)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(folder / "snapshot.dcz") as zf:
        assert "manifest.sig" in zf.namelist()
    return folder / "snapshot.dcz"


def rewrite(
    archive: Path,
    dest: Path,
    members: dict[str, Callable[[bytes], bytes]] | None = None,
    manifest: Callable[[dict], None] | None = None,
    sign_with: Ed25519PrivateKey | None = None,
    keep_signature: bool = True,
) -> Path:
    """What an attacker does: change members, recompute every checksum, and
    either keep the old signature (it no longer matches), drop it, or sign
    with a key (only the real owner's would verify)."""
    members = members or {}
    with zipfile.ZipFile(archive) as src:
        bodies = {n: src.read(n) for n in src.namelist()}
    body = json.loads(bodies.pop("manifest.json"))
    old_signature = bodies.pop("manifest.sig", None)
    for name, edit in members.items():
        bodies[name] = edit(bodies[name])
    body["checksums"] = {n: hashlib.sha256(b).hexdigest() for n, b in bodies.items()}
    if manifest:
        manifest(body)
    text = json.dumps(body).encode()
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in bodies.items():
            out.writestr(name, data)
        out.writestr("manifest.json", text)
        if sign_with is not None:
            out.writestr("manifest.sig", json.dumps(archive_sign.sign(sign_with, text)))
        elif keep_signature and old_signature is not None:
            out.writestr("manifest.sig", old_signature)
    return dest


def _ci_config(folder: Path, target: str) -> Path:
    path = folder / "datacloner.yml"
    path.write_text(
        "source: ${PROD_DATABASE_URL}\nsecret: ${DATACLONER_SECRET}\n"
        f"rules: {RULES / 'pagila.yml'}\nenvironments:\n  test: {{url: {target}}}\n"
    )
    return path


def restore(pg, archive: Path, target: str, folder: Path, *flags: str, env=None, run=run_cli):
    """A real process unless ``run`` says otherwise: in this process, only what
    Python writes is seen (a one-line error is checked as a process's output)."""
    cfg = _ci_config(folder, pg.url(target))
    return run("restore", str(archive), "--to", "test", "-c", str(cfg), "--yes", *flags, env=env)


def one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert not [line for line in stderr.splitlines() if line and not line.startswith(
        ("error:", "hint:", "warning:")
    )], stderr  # fmt: skip


@pytest.fixture(scope="module")
def drop_dir() -> Iterator[Path]:
    """A folder the server's own user may write into too (COPY TO PROGRAM
    runs as that user): so a payload that ran would leave its file here."""
    folder = Path(tempfile.mkdtemp(prefix="dct_trust_", dir="/tmp"))
    os.chmod(folder, 0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def other_db(pg, run_id) -> Iterator[str]:
    """Another database on the same server, which an archive must never reach."""
    name = f"dct_{run_id}_other"
    pg.drop(name, name + "_renamed")
    with pg.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    pg.drop(name, name + "_renamed")


PAYLOADS = {
    "shell": lambda d, o: f"\\! touch {d}/shell\n",
    "client copy": lambda d, o: f"\\copy (select 1) to '{d}/client_copy'\n",
    "copy to program": lambda d, o: f"COPY (select 1) TO PROGRAM 'touch {d}/program';\n",
    "connect": lambda d, o: f"\\connect {o}\nCREATE TABLE planted (a int);\n",
    "alter database": lambda d, o: f"ALTER DATABASE {o} RENAME TO {o}_renamed;\n",
}


def inject(payload: str) -> Callable[[bytes], bytes]:
    """Into pg_dump's pre-data, without its \\restrict lines (which would make
    psql refuse meta-commands): what an attacker would remove first."""

    def edit(script: bytes) -> bytes:
        lines = [ln for ln in script.split(b"\n") if not ln.startswith((b"\\restrict", b"\\unres"))]
        return payload.encode() + b"\n".join(lines)

    return edit


def nothing_ran(pg, drop_dir: Path, other: str, target: str) -> None:
    assert list(drop_dir.iterdir()) == []
    assert pg.exists(other) and not pg.exists(other + "_renamed")
    with pg.connect(other) as conn:
        assert conn.execute("SELECT to_regclass('public.planted')").fetchone() == (None,)
    assert not pg.exists(target + "__dc_new")
    assert not pg.exists(target)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize(
    "how",
    ["checksums recomputed", "signature removed, --allow-unsigned", "signed with the real key"],
)
def test_a_tampered_archive_runs_nothing(
    pg, signed, target_name, tmp_path, drop_dir, other_db, payload, how
):
    text = PAYLOADS[payload](drop_dir, other_db)
    tampered = rewrite(
        signed,
        tmp_path / "tampered.dcz",
        {PRE: inject(text)},
        sign_with=_KEY if how == "signed with the real key" else None,
        keep_signature=how == "checksums recomputed",
    )
    flags = ("--allow-unsigned",) if "allow" in how else ()
    # a process of its own where the statements pass the signature; else in this one
    run = run_cli if how == "signed with the real key" else run_in_process
    done = restore(pg, tampered, target_name, tmp_path, *flags, env=CI_ENV, run=run)
    if how == "checksums recomputed":
        assert done.returncode == 1, done.stderr
        assert "signature does not verify" in done.stderr
    else:  # the statements themselves are refused, before the new database exists
        assert done.returncode in (1, 2), done.stderr
        assert "not allowed in an archive" in done.stderr
        assert "schema/pre-data.sql:1:" in done.stderr
    one_line_error(done.stderr)
    nothing_ran(pg, drop_dir, other_db, target_name)


def test_unsigned_needs_the_flag_and_then_restores_with_a_warning(
    pg, signed, target_name, tmp_path
):
    unsigned = rewrite(signed, tmp_path / "unsigned.dcz", keep_signature=False)
    done = restore(pg, unsigned, target_name, tmp_path, env=CI_ENV)
    assert done.returncode == 1
    assert "is not signed" in done.stderr and "--allow-unsigned" in done.stderr
    one_line_error(done.stderr)
    assert not pg.exists(target_name + "__dc_new") and not pg.exists(target_name)

    done = restore(pg, unsigned, target_name, tmp_path, "--allow-unsigned")
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "not signed" in done.stderr
    assert "superuser" in done.stderr  # the tests' user is one: least privilege is advised
    with pg.connect(target_name) as conn:
        assert conn.execute("SELECT count(*) FROM customer").fetchone()[0] > 500


def test_a_wrong_key_is_refused(pg, signed, target_name, tmp_path):
    other = Ed25519PrivateKey.generate().public_key()
    env = {archive_sign.PUBLIC_ENV: archive_sign.encode_public(other)}
    done = restore(pg, signed, target_name, tmp_path, env=env)
    assert done.returncode == 1
    assert "signature does not verify" in done.stderr
    one_line_error(done.stderr)
    assert not pg.exists(target_name + "__dc_new") and not pg.exists(target_name)
    # signed by someone else's key: the same
    forged = rewrite(signed, tmp_path / "forged.dcz", sign_with=Ed25519PrivateKey.generate())
    done = restore(pg, forged, target_name, tmp_path, env=CI_ENV)
    assert done.returncode == 1 and "signature does not verify" in done.stderr


def test_a_signed_archive_without_the_public_key_is_a_usage_error(
    pg, signed, target_name, tmp_path
):
    done = restore(pg, signed, target_name, tmp_path)
    assert done.returncode == 2
    assert archive_sign.PUBLIC_ENV in done.stderr
    one_line_error(done.stderr)


def test_dump_without_a_key_refuses_unless_unsigned(pg, pagila_src, tmp_path):
    cfg = write_config(
        tmp_path, pagila_src, RULES / "pagila.yml", {"dev": pg.url("unused")}, secret=SECRET
    )
    done = run_cli("dump", str(tmp_path / "a.dcz"), "-c", str(cfg))
    assert done.returncode == 2
    assert archive_sign.PRIVATE_ENV in done.stderr and "datacloner keygen" in done.stderr
    assert not (tmp_path / "a.dcz").exists()
    bad = {archive_sign.PRIVATE_ENV: "not-a-key"}
    done = run_cli("dump", str(tmp_path / "a.dcz"), "-c", str(cfg), env=bad)
    assert done.returncode == 2 and "not-a-key" not in done.stderr  # never the value


def _png(path: Path, _: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    return path


def _empty(path: Path, _: Path) -> Path:
    path.write_bytes(b"")
    return path


def _truncated(path: Path, signed: Path) -> Path:
    data = signed.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def _flipped(path: Path, signed: Path) -> Path:
    data = bytearray(signed.read_bytes())
    with zipfile.ZipFile(signed) as zf:  # inside the biggest data member
        info = max(zf.infolist(), key=lambda i: i.compress_size)
    data[info.header_offset + 200 + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _many_members(path: Path, signed: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(100_001):
            zf.writestr(f"data/{i:06d}.copy", b"")
    return path


def _manifest_edit(edit: Callable[[dict], None]) -> Callable[[Path, Path], Path]:
    # signed with the real key: these are refused for their shape, not their origin
    return lambda path, signed: rewrite(signed, path, manifest=edit, sign_with=_KEY)


def _drop_key(m: dict) -> None:
    del m["tables"]


def _wrong_type(m: dict) -> None:
    m["tables"][0]["rows"] = "many"


def _missing_member(m: dict) -> None:
    m["tables"][0]["member"] = "data/99999.copy"


def _system_catalog(m: dict) -> None:
    # a superuser's COPY into pg_catalog.pg_authid would create roles
    m["tables"][0].update(schema="pg_catalog", name="pg_description")


def _unlisted_member(m: dict) -> None:
    del m["checksums"]["state.json"]


DAMAGE = {
    "flipped byte": _flipped,
    "truncated": _truncated,
    "png": _png,
    "empty file": _empty,
    "100k members": _many_members,
    "manifest without tables": _manifest_edit(_drop_key),
    "manifest with a wrong type": _manifest_edit(_wrong_type),
    "manifest naming a missing member": _manifest_edit(_missing_member),
    "member the manifest does not list": _manifest_edit(_unlisted_member),
    "manifest naming a system catalog": _manifest_edit(_system_catalog),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_or_foreign_file_exits_2_before_anything(
    pg, signed, target_name, tmp_path, damage
):
    broken = DAMAGE[damage](tmp_path / "broken.dcz", signed)
    # one damage as a process of its own, the others in this one (the same code path)
    run = run_cli if damage == "flipped byte" else run_in_process
    done = restore(pg, broken, target_name, tmp_path, env=CI_ENV, run=run)
    assert done.returncode == 2, done.stderr
    one_line_error(done.stderr)
    assert "nothing was changed" in done.stderr
    assert not pg.exists(target_name + "__dc_new") and not pg.exists(target_name)


# objects of most kinds pg_dump writes, with `;`, quotes and backslashes
# inside strings, $-bodies, BEGIN ATOMIC bodies and multi-action rules
KINDS = r"""
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE app.pair AS (a int, b text);
CREATE TYPE app.floatrange AS RANGE (subtype = float8);
CREATE DOMAIN app.posint AS int CHECK (VALUE > 0);
CREATE TEXT SEARCH CONFIGURATION app.cfg (COPY = pg_catalog.english);
CREATE FUNCTION app.add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE
  BEGIN ATOMIC SELECT a + b; SELECT CASE WHEN a > 0 THEN a ELSE b END; END;
CREATE FUNCTION app.trg() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
  NEW.note := coalesce(NEW.note, 'x;y' || E'\'q\\'); RETURN NEW; END $f$;
CREATE FUNCTION app.q() RETURNS text LANGUAGE sql AS 'SELECT ''a;b''::text';
CREATE PROCEDURE app.p(x int) LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE '%', x; END $$;
CREATE AGGREGATE app.mysum(int) (SFUNC = int4pl, STYPE = int, INITCOND = '0');
CREATE FUNCTION app.eq(app.pair, app.pair) RETURNS bool LANGUAGE sql AS $$ SELECT $1.a = $2.a $$;
CREATE OPERATOR app.=== (LEFTARG = app.pair, RIGHTARG = app.pair, FUNCTION = app.eq);
CREATE TABLE app.t (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  m app.mood, p app.posint, e citext, h hstore, note text,
  doubled int GENERATED ALWAYS AS (id * 2) STORED,
  r app.floatrange, CONSTRAINT c CHECK (p < 1000000),
  EXCLUDE USING gist (r WITH &&)
);
COMMENT ON TABLE app.t IS 'it''s a; table';
COMMENT ON COLUMN app.t.note IS E'multi
line';
CREATE UNLOGGED TABLE app.u (a int);
CREATE TABLE app.parent (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE app.child1 PARTITION OF app.parent FOR VALUES FROM (0) TO (100);
CREATE TABLE app.inh (x int) INHERITS (app.u);
CREATE INDEX ON app.t (lower(note));
CREATE INDEX ON app.t USING gin (h);
CREATE TRIGGER t_note BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.trg();
CREATE VIEW app.v AS SELECT id, note FROM app.t WHERE note <> ';';
CREATE RULE r AS ON INSERT TO app.v DO INSTEAD
  (INSERT INTO app.u VALUES (1); INSERT INTO app.u VALUES (2));
CREATE MATERIALIZED VIEW app.mv AS SELECT count(*) AS n FROM app.t;
CREATE STATISTICS app.st ON m, p FROM app.t;
ALTER TABLE app.t ENABLE ROW LEVEL SECURITY;
CREATE POLICY pol ON app.t USING (p > 0);
CREATE CAST (app.pair AS text) WITH INOUT;
CREATE TABLE app."We""ird; name" ("co;l" text DEFAULT $x$a$$b$x$);
INSERT INTO app.t (m, p, e, h, r) VALUES ('ok', 5, 'A', 'a=>1', '[1,2)');
REFRESH MATERIALIZED VIEW app.mv;
"""


def _schema(pg, name: str) -> str:
    done = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--exclude-schema=datacloner", "-h", pg.host,
         "-p", str(pg.port),
         "-U", pg.user, name],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return "\n".join(ln for ln in done.stdout.splitlines() if "restrict" not in ln)


def test_every_kind_of_object_restores_from_a_signed_archive(pg, run_id, tmp_path, target_name):
    """The schema is loaded statement by statement, without psql: what pg_dump
    writes for these objects comes back the same."""
    source = f"dct_{run_id}_kinds"
    (tmp_path / "kinds.sql").write_text(KINDS)
    (tmp_path / "rules.yml").write_text("strict: false\ntables: {}\n")
    try:
        url = pg.create(source, tmp_path / "kinds.sql")
        cfg = write_config(tmp_path, url, "rules.yml", {"test": pg.url(target_name)}, SECRET)
        done = run_cli("dump", str(tmp_path / "k.dcz"), "-c", str(cfg), env=DUMP_ENV)
        assert done.returncode == 0, done.stderr
        done = run_cli(
            "restore", str(tmp_path / "k.dcz"), "--to", "test", "-c", str(cfg), "--yes",
            env=CI_ENV,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert _schema(pg, target_name) == _schema(pg, source)
        with pg.connect(target_name) as conn:
            assert conn.execute("SELECT n FROM app.mv").fetchone() == (1,)
            assert conn.execute("SELECT note FROM app.t").fetchone() == ("x;y'q\\",)
    finally:
        pg.drop(source)


def test_pg_dumps_own_sections_pass_and_escapes_are_refused(signed):
    with zipfile.ZipFile(signed) as zf:
        for member in (PRE, "schema/post-data.sql"):
            assert len(checked(zf.read(member), member)) > 20
    refused = [
        "DO $$ BEGIN PERFORM 1; END $$;",
        "ALTER SYSTEM SET work_mem = '1GB';",
        "SET ROLE postgres;",
        "SET SESSION AUTHORIZATION postgres;",
        "CREATE EXTENSION dblink;",
        "CREATE EXTENSION IF NOT EXISTS postgres_fdw;",
        "CREATE DATABASE x;",
        "DROP DATABASE x;",
        "COPY t FROM '/etc/passwd';",
        "GRANT pg_execute_server_program TO public;",
        "SELECT pg_catalog.set_config('role', 'postgres', false);",
        "CREATE TABLE t AS SELECT pg_backend_pid();",
        "CREATE TABLE t (a text DEFAULT pg_read_file('/etc/passwd'));",
        "CREATE VIEW app.v AS SELECT pg_catalog.pg_read_file(x) FROM app.t;",
        'CREATE VIEW app.v AS SELECT "pg_read_file"(x) FROM app.t;',
        "CREATE VIEW app.v AS SELECT (x).pg_read_file FROM app.t;",
        "CREATE TABLE t (a text CHECK (query_to_xml('select 1', true, true, '') IS NOT NULL));",
        "CREATE MATERIALIZED VIEW v AS SELECT 1;",
        "CREATE FUNCTION f() RETURNS void LANGUAGE c AS '/tmp/x.so', 'f';",
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpython3u AS $$ import os $$;",
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN "
        "COPY (SELECT 1) TO PROGRAM 'id'; END $f$;",
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS 'BEGIN ALTER SYSTEM SET x = 1; END';",
        "COMMENT ON DATABASE postgres IS 'x';",
        "SET standard_conforming_strings = off;",
        "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw;",
        "CREATE TABLE a (b int); \\! id",
        "CREATE TABLE a (b text DEFAULT E'\\' ; \\! id');\n\\! id\n",
    ]
    for statement in refused:
        with pytest.raises(Refused):
            checked(statement.encode(), "m")
    # what pg_dump writes that holds `;` inside one statement stays one statement
    kept = (
        b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
        b"SELECT CASE WHEN true THEN 1 END; END;\n"
        b"CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO a VALUES (1); "
        b"INSERT INTO b VALUES ('x;y'));\n"
        b"CREATE FUNCTION g() RETURNS text LANGUAGE plpgsql AS $_$ BEGIN RETURN 'a;b'; END $_$;\n"
        # the app's own function that shares a denied name, and columns named like one
        b"CREATE FUNCTION app.set_config(k text) RETURNS void LANGUAGE sql AS 'SELECT 1';\n"
        b"CREATE TABLE app.t (dblink_url text, pg_file_name text DEFAULT app.set_config('x'));\n"
    )
    assert len(checked(kept, "m")) == 5


def test_keygen_prints_a_pair_that_signs_and_verifies(monkeypatch):
    done = run_cli("keygen")
    assert done.returncode == 0, done.stderr
    pair = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert set(pair) == {archive_sign.PRIVATE_ENV, archive_sign.PUBLIC_ENV}
    assert pair[archive_sign.PRIVATE_ENV] not in done.stderr
    for name, value in pair.items():
        monkeypatch.setenv(name, value)
    private, public = archive_sign.private_key(), archive_sign.public_key()
    assert private is not None and public is not None
    signature = archive_sign.sign(private, b"{}")
    raw = base64.b64decode(signature["signature"])
    assert archive_sign.verifies(public, b"{}", raw)
    assert not archive_sign.verifies(public, b"{ }", raw)
