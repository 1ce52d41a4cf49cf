"""Servers, not spellings: `protected:` compares the server a target reaches,
and every client datacloner starts (psycopg, pg_dump, psql) reaches the same
server with the same parameters; URL options work or fail in one line."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_cli, run_in_process, write_config
from pgcompare import columns_digest

from datacloner.core import urls
from datacloner.core.errors import Refused
from datacloner.engines.postgres import conninfo
from datacloner.engines.postgres.connection import cluster_id, connect
from datacloner.engines.postgres.tools import check_server, client_args, find_tools

RULES = """strict: true
tables:
  public.people:
    mask:
      email: {faker: email}
    keep: [id, name]
  public.orders:
    keep: [id, person_id, total]
"""

SCHEMA = """
CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (id int PRIMARY KEY, person_id int REFERENCES people, total numeric);
CREATE INDEX orders_person ON orders (person_id);
INSERT INTO people SELECT g, 'name ' || g, 'p' || g || '@example.com'
  FROM generate_series(1, 200) g;
INSERT INTO orders SELECT g, 1 + g % 200, g * 1.5 FROM generate_series(1, 500) g;
"""


@pytest.fixture(scope="module")
def loopback(pg) -> None:  # type: ignore[no-untyped-def]
    if pg.host not in ("127.0.0.1", "localhost"):
        pytest.skip("these tests need the server on the loopback interface")


@pytest.fixture(scope="module")
def small_src(pg, run_id, tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"dct_{run_id}_h2src"
    sql_file = tmp_path_factory.mktemp("h2") / "schema.sql"
    sql_file.write_text(SCHEMA)
    yield pg.create(name, sql_file)
    pg.drop(name)


@pytest.fixture(scope="module")
def socket_dir(pg) -> str:  # type: ignore[no-untyped-def]
    with pg.connect() as conn:
        dirs = conn.execute("SHOW unix_socket_directories").fetchone()[0]
    first = dirs.split(",")[0].strip()
    if not first or first.startswith("@"):
        pytest.skip("the server listens on no Unix-socket folder")
    return first


def _config(tmp_path: Path, source: str, target: str, extra: str = "") -> Path:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    secret = "h2-test-secret-0123456789abcdef"  # 16 bytes at least
    return write_config(tmp_path, source, rules, {"dev": target}, secret=secret, extra=extra)


def _refuses(
    pg, cfg: Path, target_name: str, env: dict[str, str] | None = None, run=run_cli
) -> str:  # type: ignore[no-untyped-def]
    done = run("refresh", "dev", "-c", str(cfg), "--yes", env=env)
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert not pg.exists(target_name) and not pg.exists(target_name + "__dc_new")
    return done.stderr


def _same_data(pg, source: str, target: str) -> None:  # type: ignore[no-untyped-def]
    with pg.connect(source) as src, pg.connect(target) as dst:
        for table, cols in (("people", ["id", "name"]), ("orders", ["id", "person_id", "total"])):
            assert columns_digest(src, "public", table, cols) == columns_digest(
                dst, "public", table, cols
            )
        # post-data came from the same database as the rows: index and key exist
        assert dst.execute("SELECT to_regclass('public.orders_person')").fetchone()[0]
        assert dst.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass "
            "AND contype = 'f'"
        ).fetchone()[0]


# --- protected: one server, every spelling ----------------------------------------


SPELLINGS = [
    "postgresql://{user}@/{db}?host=127.0.0.1",
    "postgresql://{user}@/{db}?host=127.0.0.1&port={port}",
    "postgresql://{user}@/{db}?host={socket}",
    "postgresql://{user}@/{db}?host={socket}&port={port}",
    "postgresql://{user}@localhost/{db}",
    "postgresql://{user}@127.1:{port}/{db}",
    "postgresql://{user}@[::ffff:127.0.0.1]:{port}/{db}",
    "postgresql://{user}@[::ffff:127.0.0.1]/{db}",
    "postgresql://{user}@LOCALHOST.:{port}/{db}",
    "postgresql://{user}@127.0.0.1/{db}",
    "postgresql://{user}@127.0.0.1:{port}/{db}",
    "postgresql://{user}@somename/{db}?hostaddr=127.0.0.1",
    "postgresql://{user}@/{db}?host=10.255.255.1,127.0.0.1",  # a host list: any of them
]


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("entry", ["127.0.0.1", "'127.0.0.1:{port}'"])
def test_every_spelling_of_a_protected_server_is_refused(
    pg, loopback, small_src, socket_dir, target_name, tmp_path, spelling, entry
):
    target = spelling.format(user=pg.user, db=target_name, port=pg.port, socket=socket_dir)
    cfg = _config(tmp_path, small_src, target, f"protected: [{entry.format(port=pg.port)}]\n")
    # in this process (26 cases, the same guard): one interpreter start each otherwise
    stderr = _refuses(pg, cfg, target_name, run=run_in_process)
    assert "protected" in stderr


def test_rollback_and_restore_refuse_a_protected_socket_too(
    pg, loopback, small_src, socket_dir, target_name, tmp_path
):
    target = f"postgresql://{pg.user}@/{target_name}?host={socket_dir}"
    cfg = _config(tmp_path, small_src, target, "protected: [127.0.0.1]\n")
    done = run_cli("rollback", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 1 and "Unix socket" in done.stderr, done.stderr
    archive = tmp_path / "none.dcz"  # refused before the archive is even opened
    done = run_cli("restore", str(archive), "--to", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 1 and "Unix socket" in done.stderr, done.stderr
    assert not pg.exists(target_name) and not pg.exists(target_name + "__dc_new")


def test_protected_port_leaves_other_ports_alone(pg, loopback, small_src, target_name, tmp_path):
    """`127.0.0.1:5433` protects that server only, not the one on 5432."""
    target = f"postgresql://{pg.user}@127.0.0.1:{pg.port}/{target_name}"
    cfg = _config(tmp_path, small_src, target, f"protected: ['127.0.0.1:{pg.port + 1}']\n")
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 0, done.stderr


def test_an_unresolvable_target_host_is_refused(pg, small_src, tmp_path):
    target = f"postgresql://{pg.user}@nosuchhost.invalid:{pg.port}/dct_never"
    cfg = _config(tmp_path, small_src, target, "protected: [127.0.0.1]\n")
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 1, done.stderr
    assert "nosuchhost.invalid does not resolve" in done.stderr
    assert "Traceback" not in done.stderr


def test_protected_hosts_elsewhere_do_not_block_this_server(
    pg, loopback, small_src, target_name, tmp_path
):
    """An entry that does not resolve here, and one that resolves to a remote
    address that does not answer, never block a refresh to another server
    (and the remote one is never contacted: no connection timeout)."""
    target = f"postgresql://{pg.user}@127.0.0.1:{pg.port}/{target_name}"
    extra = "protected: [db.prod.invalid, '10.255.255.1:5432', '*.prod.example.com']\n"
    cfg = _config(tmp_path, small_src, target, extra)
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 0, done.stderr
    assert pg.exists(target_name)


class Forwarder:
    """A TCP port on 127.0.0.1 that leads to the test server: a second name
    for the same server, as a tunnel or a published container port is."""

    def __init__(self, host: str, port: int) -> None:
        self.to = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.server.accept()
                upstream = socket.create_connection(self.to)
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        with contextlib.suppress(OSError):
            b.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def forwarder(pg) -> Iterator[Forwarder]:  # type: ignore[no-untyped-def]
    fwd = Forwarder(pg.host, pg.port)
    yield fwd
    fwd.close()


def test_a_protected_second_name_is_caught_by_the_server_identity(
    pg, loopback, small_src, target_name, tmp_path, forwarder
):
    """The protected entry is a forwarded port of the target's server: names,
    addresses and ports all differ; the system identifier does not."""
    target = f"postgresql://{pg.user}@127.0.0.1:{pg.port}/{target_name}"
    cfg = _config(tmp_path, small_src, target, f"protected: ['127.0.0.1:{forwarder.port}']\n")
    stderr = _refuses(pg, cfg, target_name)
    assert "same system identifier" in stderr


def test_a_target_through_a_tunnel_is_caught_by_the_server_address(
    pg, loopback, small_src, target_name, tmp_path, forwarder
):
    """The target goes through a forwarded port to a protected server: the
    server says which address and port it answers on."""
    target = f"postgresql://{pg.user}@127.0.0.1:{forwarder.port}/{target_name}"
    cfg = _config(tmp_path, small_src, target, f"protected: ['127.0.0.1:{pg.port}']\n")
    stderr = _refuses(pg, cfg, target_name)
    assert f"port {pg.port}" in stderr


# --- one server, whoever connects ------------------------------------------------


@pytest.mark.parametrize("via", ["socket", "tcp"])
def test_pg_env_without_host_in_url_reaches_one_server(
    pg, loopback, small_src, socket_dir, target_name, tmp_path, via
):
    """PGHOST, PGPORT and PGUSER apply to pg_dump and psql as to psycopg."""
    src_db = small_src.rsplit("/", 1)[1]
    env = {
        "PGHOST": socket_dir if via == "socket" else "127.0.0.1",
        "PGPORT": str(pg.port),
        "PGUSER": pg.user,
    }
    cfg = _config(tmp_path, f"postgresql:///{src_db}", f"postgresql:///{target_name}")
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", env=env)
    assert done.returncode == 0, done.stderr
    _same_data(pg, src_db, target_name)
    # psql restored the schema as the user psycopg connected as (PGUSER), not
    # as a default the child programs would pick on their own
    with pg.connect(target_name) as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace"
        ).fetchall()
    assert owners == [(pg.user,)]


def test_a_service_file_is_read_once_for_every_client_and_the_guard(
    pg, loopback, small_src, target_name, tmp_path
):
    """`?service=` resolves through libpq's service file, the same for
    psycopg, pg_dump, psql and the protected-host guard."""
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[h2local]\nhost=127.0.0.1\nport={pg.port}\nuser={pg.user}\n")
    env = {"PGSERVICEFILE": str(services)}
    src_db = small_src.rsplit("/", 1)[1]
    source = f"postgresql:///{src_db}?service=h2local"
    target = f"postgresql:///{target_name}?service=h2local"
    cfg = _config(tmp_path, source, target, "protected: [localhost]\n")
    assert "protected" in _refuses(pg, cfg, target_name, env=env)
    cfg = _config(tmp_path, source, target, "protected: [db.prod.invalid]\n")
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", env=env)
    assert done.returncode == 0, done.stderr
    _same_data(pg, src_db, target_name)
    cfg = _config(tmp_path, source, f"postgresql:///{target_name}?service=nosuch")
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", env=env)
    assert done.returncode == 2 and 'service "nosuch" not found' in done.stderr, done.stderr


def test_hostaddr_with_a_host_name_is_used_by_every_client(
    pg, loopback, small_src, target_name, tmp_path
):
    src_db = small_src.rsplit("/", 1)[1]
    source = f"postgresql://{pg.user}@somename:{pg.port}/{src_db}?hostaddr=127.0.0.1"
    target = f"postgresql://{pg.user}@somename:{pg.port}/{target_name}?hostaddr=127.0.0.1"
    cfg = _config(tmp_path, source, target)
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    _same_data(pg, src_db, target_name)


def test_a_client_that_reaches_another_server_is_refused(pg, small_src):
    """The check every pinned connection and psql child runs first."""
    params = conninfo.resolve(small_src)
    with connect(params, "source") as conn:
        pinned = conninfo.pin(params, conn, cluster_id(conn))
        major = conn.info.server_version // 10000
    tools = find_tools(major)
    check_server(tools, pinned)  # the right server passes
    connect(pinned, "source").close()
    # the password travels in the environment, never on a command line
    argv = client_args({**pinned, "password": "pw-never-in-argv"})
    assert "pw-never-in-argv" not in " ".join(argv)
    assert conninfo.child_env({**pinned, "password": "x"})["PGPASSWORD"] == "x"
    elsewhere = {**pinned, conninfo.SERVER: "sysid:1"}
    with pytest.raises(Refused):
        check_server(tools, elsewhere)
    with pytest.raises(Refused):
        connect(elsewhere, "source")


# --- URL options ---------------------------------------------------------------


def test_libpq_options_in_urls_work_end_to_end(pg, small_src, target_name, tmp_path):
    opts = "connect_timeout=5&application_name=dc_h2_test"
    source = f"{small_src}?{opts}"
    target = f"postgresql://{pg.user}@{pg.host}:{pg.port}/{target_name}?{opts}"
    cfg = _config(tmp_path, source, target)
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    _same_data(pg, small_src.rsplit("/", 1)[1], target_name)


PASSWORD = "s3cr@t:pw"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://u@127.0.0.1/db?bogusopt=1", "unknown connection option `bogusopt`"),
        ("postgresql://u@127.0.0.1:abc/db", "not a valid URL"),
        ("postgresql://[::1", "not a valid URL"),
        ("postgresql://u@/db?host=", "`host` is empty"),
        ("postgresql://u:s3cr@t@127.0.0.1/db", "percent-encode"),
        (f"postgresql://u:{PASSWORD}@127.0.0.1/db", "not a valid URL"),
        (f"postgresql://u:{PASSWORD}@127.0.0.1:abc/db", "not a valid URL"),
    ],
)
def test_bad_urls_fail_in_one_line_naming_the_place(pg, small_src, tmp_path, url, says):
    cfg = _config(tmp_path, small_src, f'"{url}"')
    # refresh as a user runs it; check and rollback in this process (the same answer
    # without two more interpreters)
    for args, run in (
        (["refresh", "dev", "--yes"], run_cli),
        (["check"], run_in_process),
        (["rollback", "dev", "--yes"], run_in_process),
    ):
        done = run(*args, "-c", str(cfg))
        assert done.returncode == 2, (args, done.stderr)
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, done.stderr
        assert "datacloner.yml:" in errors[0] and says in errors[0], done.stderr
        assert "Traceback" not in done.stderr
        for fragment in ("s3cr", "t:pw", PASSWORD):
            assert fragment not in done.stdout + done.stderr


def test_a_bad_url_from_the_environment_names_its_place(pg, small_src, tmp_path):
    cfg = _config(tmp_path, small_src, "${H2_DEV_URL}")
    env = {"H2_DEV_URL": "postgresql://u:s3cr%40t@127.0.0.1/db?bogusopt=1"}
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", env=env)
    assert done.returncode == 2, done.stderr
    assert "datacloner.yml:" in done.stderr and "bogusopt" in done.stderr
    assert "s3cr" not in done.stderr and "Traceback" not in done.stderr


def test_redact_never_prints_user_info():
    for url in (
        f"postgresql://u:{PASSWORD}@host/db",
        "postgresql://user:p/a?s#s@host/db",
        "postgresql://user:pw@host/db?password=hunter2&sslpassword=hunter3",
    ):
        shown = urls.redact(url)
        assert shown.startswith("postgresql://***@host/db"), shown
        for secret in ("s3cr", "t:pw", "user", "p/a", "hunter"):
            assert secret not in shown


def test_encoded_password_refresh_report_hides_it(pg, small_src, target_name, tmp_path):
    target = f"postgresql://{pg.user}:s3cr%40t@{pg.host}:{pg.port}/{target_name}"
    cfg = _config(tmp_path, small_src, target)
    done = run_cli("refresh", "dev", "-c", str(cfg), "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert "s3cr" not in done.stdout + done.stderr
    assert json.loads(done.stdout)["target"].startswith("postgresql://***@")
