"""Real databases for the suite.

PostgreSQL: the server at $DATACLONER_TEST_PG (default 127.0.0.1:5432, user
postgres). If none answers, a throwaway server is started with initdb/pg_ctl
in a temporary folder. In CI (CI=true) a missing server is a failure, never
a skip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def _fixtures_folder() -> Path:
    """../shared/fixtures beside the checkout; else $DATACLONER_FIXTURES; else
    beside the repository this one was cloned from (a clone in a temporary
    folder, as `git clone . "$d"` makes to run CI on a clean checkout)."""
    beside = ROOT.parent / "shared" / "fixtures"
    if beside.is_dir():
        return beside
    if os.environ.get("DATACLONER_FIXTURES"):
        return Path(os.environ["DATACLONER_FIXTURES"])
    origin = subprocess.run(
        ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if origin and Path(origin).is_dir():
        cloned_from = Path(origin).resolve().parent / "shared" / "fixtures"
        if cloned_from.is_dir():
            return cloned_from
    return beside  # missing: the tests that need it say so (and fail in CI)


FIXTURES = _fixtures_folder()
LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(reason: str) -> None:
    """A server, client or file the tests need is not there: a failure in CI,
    a skip elsewhere (of the test, or of the module when called at its top)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI requires it)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _docker_problem() -> str | None:
    """Why no Docker engine can run a container here, or None if one answers."""
    if shutil.which("docker") is None:
        return "no docker command"
    done = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return "`docker info` failed: " + (lines[-1] if lines else "no Docker daemon")
    return None


def _docker_postgres():  # type: ignore[no-untyped-def]
    """A testcontainers PostgreSQL where a Docker engine answers, else None."""
    if _docker_problem() is not None:
        return None
    from testcontainers.postgres import PostgresContainer

    return PostgresContainer("postgres:16", username="postgres", password="postgres")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PgServer:
    def __init__(self, host: str, port: int, user: str) -> None:
        self.host, self.port, self.user = host, port, user

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def params(self, dbname: str = "postgres") -> dict[str, str]:
        return {"host": self.host, "port": str(self.port), "user": self.user, "dbname": dbname}

    def connect(self, dbname: str = "postgres", autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(**self.params(dbname), autocommit=autocommit)

    def drop(self, *names: str) -> None:
        with self.connect() as conn:
            for name in names:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    def create(self, name: str, *sql_files: Path, analyze: bool = False) -> str:
        self.drop(name)
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        env = {
            **os.environ,
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": name,
        }
        for path in sql_files:
            subprocess.run(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path)],
                env=env,
                check=True,
                capture_output=True,
            )
        if analyze:
            with self.connect(name) as conn:
                conn.execute("ANALYZE")
        return self.url(name)

    def clone(self, name: str, *sql_files: Path, analyze: bool = False) -> str:
        """``create`` for a fixture many sessions and workers load: the files are
        loaded once into a template database named by their content, which each
        call copies (CREATE DATABASE ... TEMPLATE: a second, not a reload). The
        template stays for the next run; one built from older files is dropped."""
        digest = hashlib.sha256(b"analyze" if analyze else b"")
        for path in sql_files:
            digest.update(path.read_bytes())
        stem = "dct_tpl_" + (sql_files[0].stem.replace("-", "_")[:20] if sql_files else "empty")
        template = f"{stem}_{digest.hexdigest()[:10]}"
        with self.connect() as conn:
            # one builder at a time (xdist workers, parallel sessions); the others wait
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (stem,))
            try:
                if not self.exists(template):
                    building = f"{template}_b{os.getpid()}"
                    self.create(building, *sql_files, analyze=analyze)
                    stale = conn.execute(  # older templates, and builds left by a kill
                        "SELECT datname FROM pg_database WHERE datname LIKE %s "
                        "AND datname NOT IN (%s, %s)",
                        (stem.replace("_", r"\_") + r"\_%", template, building),
                    ).fetchall()
                    self.drop(*(r[0] for r in stale))
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                            sql.Identifier(building), sql.Identifier(template)
                        )
                    )
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (stem,))
        self.drop(name)
        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return self.url(name)

    def exists(self, name: str) -> bool:
        with self.connect() as conn:
            return bool(
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            )


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    address = os.environ.get("DATACLONER_TEST_PG", "127.0.0.1:5432")
    host, _, port = address.partition(":")
    if _answers(host, int(port or 5432)):
        yield PgServer(
            host, int(port or 5432), os.environ.get("DATACLONER_TEST_PG_USER", "postgres")
        )
        return
    container = _docker_postgres()
    if container is not None:
        with container as running:
            yield PgServer(
                running.get_container_host_ip(),
                int(running.get_exposed_port(5432)),
                running.username,
            )
        return
    bindir = _pg_bindir()
    if bindir is None:
        _missing(f"no PostgreSQL at {address} and no initdb to start one")
    tmp = Path(tempfile.mkdtemp(prefix="dc-pg-"))
    port_num = _free_port()
    user = "postgres"
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the throwaway server as `postgres`
        shutil.chown(tmp, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data = tmp / "data"
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(tmp / "log"),
            "-o",
            f"-p {port_num} -k {tmp} -h 127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    # the throwaway server's client programs go first, for pg_dump and psql
    os.environ["DATACLONER_PG_BIN"] = str(bindir)
    try:
        yield PgServer("127.0.0.1", port_num, user)
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(tmp / "data"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:6]


def _fixture(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        _missing(f"fixture {path} is missing")
    return path


@pytest.fixture(scope="session")
def pagila_src(pg: PgServer, run_id: str) -> Iterator[str]:
    name = f"dct_{run_id}_pagila"
    url = pg.clone(
        name,
        _fixture("pagila", "pagila-schema.sql"),
        _fixture("pagila", "pagila-data.sql"),
        analyze=True,
    )
    yield url
    pg.drop(name)


@pytest.fixture(scope="session")
def northwind_src(pg: PgServer, run_id: str) -> Iterator[str]:
    name = f"dct_{run_id}_northwind"
    url = pg.clone(name, _fixture("northwind", "northwind.sql"))
    yield url
    pg.drop(name)


@pytest.fixture(scope="session")
def traps_src(pg: PgServer, run_id: str) -> Iterator[str]:
    name = f"dct_{run_id}_traps"
    url = pg.clone(name, LOCAL_FIXTURES / "traps.sql")
    yield url
    pg.drop(name)


@pytest.fixture
def target_name(pg: PgServer, run_id: str) -> Iterator[str]:
    """A fresh target database name; the database and its generations are
    dropped afterwards."""
    name = f"dct_{run_id}_t{uuid.uuid4().hex[:4]}"
    yield name
    pg.drop(name, name + "__dc_new", name + "__dc_prev")


# --- MariaDB / MySQL ---------------------------------------------------------------


class MyServer:
    """The MariaDB (or MySQL) server at $DATACLONER_TEST_MYSQL (default
    127.0.0.1:3306, user root, no password). Its "databases" are schemas."""

    def __init__(self, host: str, port: int, user: str) -> None:
        self.host, self.port, self.user = host, port, user

    def url(self, schema: str) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{schema}"

    def connect(self, schema: str | None = None):  # type: ignore[no-untyped-def]
        import pymysql
        import pymysql.converters

        # encoders only: every value comes back as the server spells it (text)
        encoders = {
            k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)
        }
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            database=schema,
            autocommit=True,
            charset="utf8mb4",
            conv=encoders,
        )

    def execute(self, statements: str, schema: str | None = None) -> None:
        import pymysql
        from pymysql.constants import CLIENT

        conn = pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            database=schema,
            autocommit=True,
            charset="utf8mb4",
            client_flag=CLIENT.MULTI_STATEMENTS,
        )
        try:
            with conn.cursor() as cur:
                cur.execute(statements)
                while cur.nextset():
                    pass
        finally:
            conn.close()

    def query(self, statement: str, schema: str | None = None) -> list[tuple[object, ...]]:
        conn = self.connect(schema)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return [tuple(r) for r in cur.fetchall()]
        finally:
            conn.close()

    def drop(self, *names: str) -> None:
        for name in names:
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def exists(self, name: str) -> bool:
        return bool(
            self.query(f"SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'")
        )

    def load(self, name: str, *sql_files: Path) -> str:
        """A fresh schema from mysql-client scripts (``mariadb`` reads DELIMITER)."""
        self.drop(name)
        self.execute(f"CREATE DATABASE `{name}`")
        client = shutil.which("mariadb") or shutil.which("mysql")
        if client is None:
            _missing("no mariadb/mysql client to load SQL files")
        for path in sql_files:
            subprocess.run(
                [client, "-h", self.host, "-P", str(self.port), "-u", self.user, name],
                input=path.read_bytes(),
                check=True,
                capture_output=True,
            )
        return self.url(name)


MYSQL8_IMAGE = os.environ.get("DATACLONER_TEST_MYSQL8_IMAGE", "mysql:8.0")


@pytest.fixture(scope="session")
def mysql8() -> Iterator[MyServer]:
    """MySQL 8 in a testcontainers container, where a Docker engine answers
    (its image pulled or already there); skipped, with the reason, only when
    Docker cannot run a container (docs/mysql.md, "Versions")."""
    problem = _docker_problem()
    if problem is not None:
        pytest.skip(f"MySQL 8 runs in Docker (testcontainers): {problem}")
    import pymysql
    from testcontainers.core.container import DockerContainer

    container = (
        DockerContainer(MYSQL8_IMAGE)
        .with_env("MYSQL_ALLOW_EMPTY_PASSWORD", "yes")
        .with_exposed_ports(3306)
    )
    container.start()
    try:
        server = MyServer(
            container.get_container_host_ip(), int(container.get_exposed_port(3306)), "root"
        )
        deadline = time.monotonic() + 180  # the image initialises its data directory first
        while True:
            try:
                server.connect().close()
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield server
    finally:
        container.stop()


@pytest.fixture(scope="session")
def mariadb() -> MyServer:
    """In CI (CI=true) a missing server fails the run, never skips it."""
    address = os.environ.get("DATACLONER_TEST_MYSQL", "127.0.0.1:3306")
    host, _, port = address.partition(":")
    if not _answers(host, int(port or 3306)):
        _missing(f"no MariaDB/MySQL server at {address}")
    return MyServer(host, int(port or 3306), os.environ.get("DATACLONER_TEST_MYSQL_USER", "root"))
