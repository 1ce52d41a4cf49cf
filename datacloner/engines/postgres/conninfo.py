"""One set of libpq connection parameters per server, for every client.

A database URL is turned into libpq keywords once; libpq itself fills in what
the URL leaves out (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``... and
service files), so datacloner resolves exactly as ``psql`` would. After the
first connection the set is *pinned* to the address that connection reached
(host, hostaddr, port) and to the server's identity; every later psycopg
connection and every ``pg_dump``/``psql`` child uses the pinned set and checks
that identity first, so schema and rows can never come from two servers.
"""

from __future__ import annotations

import os
import re
from functools import cache
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo

from datacloner.core import urls
from datacloner.core.errors import UsageError

# datacloner's own keys, carried in a parameter set but never given to libpq:
# the maintenance database for CREATE/DROP DATABASE, and the server identity
# (cluster_id) every connection made from a pinned set must find
MAINTENANCE = "maintenance_db"
SERVER = "dc_server"
PRIVATE = (MAINTENANCE, SERVER)

DEFAULT_PORT = 5432
CONNECT_TIMEOUT = "10"  # seconds, unless the URL, PGCONNECT_TIMEOUT or a service says
APP_NAME = "datacloner"  # a fallback: the URL's or PGAPPNAME's application_name wins

# what libpq fills in from the environment and service files, when the URL
# leaves it out: where the server is and who connects
# (not the database: a target must name its own; a source's is pinned once
# connected)
_RESOLVED = ("host", "hostaddr", "port", "user", "password")


@cache
def libpq_keywords() -> frozenset[str]:
    return frozenset(o.keyword.decode() for o in pq.Conninfo.get_defaults())


def url_problem(url: str) -> str | None:
    """Why a ``postgresql://`` URL cannot be used, in one line that never
    repeats the URL (it may hold a password); None when it can."""
    try:
        url_params(url)
    except UsageError as exc:
        return str(exc)
    return None


def url_params(url: str) -> dict[str, str]:
    """The libpq keywords a URL sets itself (SQLAlchemy URL syntax), checked
    without connecting. ``?host=`` and friends override the URL's own parts,
    as in a libpq URI."""
    try:
        parsed = urls.parse(url)
    except UsageError:
        raise UsageError("not a valid database URL") from None
    if parsed.host and ("@" in parsed.host or "/" in parsed.host):
        # postgresql://u:p@ss@host/db: the password's own @ ends up in the host
        raise UsageError(
            "the URL's host is not a host name: percent-encode @, :, / and ? in the "
            "user name and password (@ is %40)"
        )
    params: dict[str, Any] = {
        "host": parsed.host,
        "port": str(parsed.port) if parsed.port else None,
        "user": parsed.username or None,
        "password": parsed.password,
        "dbname": parsed.database or None,
    }
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    empty = re.search(r"[?&](host|hostaddr|port)=(?=&|#|$)", url)
    if empty:  # dropped by the URL parser, so libpq would quietly use its default socket
        raise UsageError(f"the database URL's `{empty.group(1)}` is empty")
    known = libpq_keywords()
    for key, value in params.items():
        if value is None:
            continue
        if key not in known and key not in PRIVATE:
            raise UsageError(f"unknown connection option `{key}` in the database URL")
        if key in ("host", "hostaddr", "port") and not str(value).strip():
            raise UsageError(f"the database URL's `{key}` is empty")
    for port in (params.get("port") or "").split(","):
        if port and not (port.strip().isdigit() and 0 < int(port) < 65536):
            raise UsageError("the database URL's port is not a number from 1 to 65535")
    return {k: str(v) for k, v in params.items() if v is not None}


def libpq_only(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in PRIVATE}


def resolve(url: str) -> dict[str, str]:
    """The URL's keywords plus what libpq takes from ``PG*`` variables and
    service files, resolved by libpq itself, before any server is contacted."""
    params = url_params(url)
    found = {**_libpq_defaults(params), **params}
    for key in _RESOLVED:
        if key not in params and found.get(key):
            params[key] = found[key]
    if not found.get("connect_timeout"):
        params["connect_timeout"] = CONNECT_TIMEOUT
    params.setdefault("fallback_application_name", APP_NAME)
    return params


def _libpq_defaults(params: dict[str, str]) -> dict[str, str]:
    """What libpq would use for the options ``params`` leaves out.

    PQconndefaults gives the ``PG*`` variables, ``PGSERVICE``'s service and
    the compiled-in defaults without any network. A service named in the URL
    is read by PQconnectStart, whose options (PQconninfo) are read before the
    connection sends anything, then dropped."""
    if "service" not in params:
        return {
            o.keyword.decode(): o.val.decode(errors="replace")
            for o in pq.Conninfo.get_defaults()
            if o.val is not None
        }
    conn = pq.PGconn.connect_start(make_conninfo(**libpq_only(params)).encode())
    try:
        found = {
            o.keyword.decode(): o.val.decode(errors="replace")
            for o in conn.info
            if o.val is not None
        }
        if not found:  # libpq refused the options themselves (an unknown service...)
            raise UsageError(
                "the database URL cannot be used: "
                + conn.get_error_message().strip().splitlines()[0]
            )
    finally:
        conn.finish()
    return found


def pin(params: dict[str, str], conn: psycopg.Connection, server: str) -> dict[str, str]:
    """``params`` fixed to the server ``conn`` reached: its host (or socket
    folder), the very address libpq used, its port, its identity ``server``
    (a cluster_id). A host list or a name with several addresses can then no
    longer lead another client elsewhere."""
    info = conn.info
    pinned = {k: v for k, v in params.items() if k not in ("host", "hostaddr", "port")}
    pinned["host"] = info.host
    pinned["port"] = str(info.port)
    if info.hostaddr and not info.host.startswith(("/", "@")):
        pinned["hostaddr"] = info.hostaddr
    pinned["dbname"] = info.dbname
    pinned[SERVER] = server
    return pinned


def is_socket(host: str | None) -> bool:
    """A libpq host that names a Unix-socket folder (or, ``@``, an abstract one);
    no host at all means libpq's default socket."""
    return not host or host.startswith(("/", "@"))


# --- child programs --------------------------------------------------------------


def child_conninfo(params: dict[str, str]) -> str:
    """The pinned set as a conninfo string for ``--dbname=``; the password is
    left out (it goes in the environment, never on a command line)."""
    return make_conninfo(**{k: v for k, v in libpq_only(params).items() if k != "password"})


def child_env(params: dict[str, str]) -> dict[str, str]:
    """The environment of a child program: this process's own (``PGSSLMODE``,
    a ``PGSERVICE`` and such apply to the children as they apply to psycopg),
    plus the set's password. Nothing in it can redirect the child: the
    conninfo names host, port, user and database, and explicit values win."""
    env = dict(os.environ)
    env.setdefault("PGAPPNAME", APP_NAME)  # psql's own fallback name would win otherwise
    if params.get("password"):
        env["PGPASSWORD"] = params["password"]
    return env


def identity_check_sql(params: dict[str, str]) -> str | None:
    """A statement that fails unless the session is on the pinned server and
    database: run first by every psql child."""
    server = params.get(SERVER)
    if not server:
        return None
    kind, _, value = server.partition(":")
    expr = STARTED_SQL if kind == "started" else SYSID_SQL
    dbname = params.get("dbname", "")
    return (
        "DO $dc$BEGIN IF " + expr + " IS DISTINCT FROM " + _literal(value) + " OR "
        "current_database() IS DISTINCT FROM " + _literal(dbname) + " THEN RAISE EXCEPTION "
        "'datacloner: this connection reached another server or database than the first one'; "
        "END IF; END$dc$"
    )


# A server's identity, as the pinned connection records it ("sysid:..." or
# "started:...") and every psql child checks it. The cluster's system identifier:
SYSID_SQL = "(SELECT system_identifier::text FROM pg_control_system())"
# else the postmaster's start (time-zone independent) and port, for a role that
# may not read pg_control_system()
STARTED_SQL = (
    "(extract(epoch FROM pg_postmaster_start_time())::text || '/' || current_setting('port'))"
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- where a server is, as the protected-host guard sees it ----------------------


def endpoints(params: dict[str, str]) -> list[tuple[str, str, int]]:
    """``(host, hostaddr, port)`` of each server libpq may try, from a
    resolved set (a host list gives several)."""
    hosts = (params.get("host") or "").split(",")
    addrs = (params.get("hostaddr") or "").split(",")
    ports = (params.get("port") or "").split(",")
    count = max(len(hosts), len(addrs))
    if any(1 < len(values) != count for values in (hosts, addrs, ports)):
        raise UsageError("the database URL's host, hostaddr and port lists differ in length")
    found = []
    for i in range(count):
        host = hosts[i] if len(hosts) > 1 else hosts[0]
        addr = addrs[i] if len(addrs) > 1 else addrs[0]
        port = ports[i] if len(ports) > 1 else ports[0]
        found.append((host.strip(), addr.strip(), int(port) if port.strip() else DEFAULT_PORT))
    return found


def server_address(conn: psycopg.Connection) -> tuple[str, int]:
    """What the server says about this connection: its own address (empty on a
    Unix socket) and its port."""
    row = conn.execute(
        "SELECT coalesce(host(inet_server_addr()), ''), "
        "coalesce(inet_server_port(), current_setting('port')::int)"
    ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])
