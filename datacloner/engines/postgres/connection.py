"""PostgreSQL connections: a URL's libpq parameters, a connection pinned to
one server, which server that is (``cluster_id``), and what a target's server
says about itself (for the protected-host guard)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from datacloner.core.errors import Refused, UsageError
from datacloner.engines.postgres import conninfo

log = logging.getLogger(__name__)


def conn_params(url: str) -> dict[str, str]:
    """The URL's libpq parameters as libpq resolves them (``PG*`` variables,
    service files): see conninfo."""
    return conninfo.resolve(url)


def connect(params: dict[str, str], what: str, autocommit: bool = True) -> psycopg.Connection:
    """A connection from a parameter set; a pinned set (conninfo.pin) must
    reach the server it was pinned to, or the connection is refused."""
    try:
        conn = psycopg.connect(**conninfo.libpq_only(params), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        raise UsageError(
            f"cannot connect to the {what} database {params.get('dbname', '')!r} at {where}: "
            f"{str(exc).strip().splitlines()[-1]}",
            hint="check the URL in datacloner.yml and that the server is running",
        ) from None
    expected = params.get(conninfo.SERVER)
    if expected:
        found = cluster_id(conn)
        if not autocommit:
            conn.rollback()
        if found != expected:
            conn.close()
            raise Refused(
                f"the {what} connection reached another server than the first connection did",
                hint="the host name may lead to several servers; name one server in the URL",
            )
    conn.execute("SET client_encoding = 'UTF8'")
    return conn


def connect_new_copy(params: dict[str, str], autocommit: bool = True) -> psycopg.Connection:
    """A connection to the new copy being built. Its commits do not wait for
    the disk: a crash before the swap drops the copy anyway."""
    conn = connect(params, "new target", autocommit=autocommit)
    try:
        conn.execute("SET synchronous_commit = off")
        if not autocommit:
            conn.commit()
    except BaseException:
        conn.close()
        raise
    return conn


def cluster_id(conn: psycopg.Connection) -> str:
    """Which server this is, whatever the URL's spelling: the cluster's
    system_identifier, or (without the privilege to read it) the postmaster's
    start time with the port, which no other server shares."""
    in_tx = conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    if in_tx:
        conn.execute("SAVEPOINT dc_ident")
    try:
        row = conn.execute("SELECT " + conninfo.SYSID_SQL).fetchone()
        return f"sysid:{row[0]}" if row else ""
    except psycopg.errors.InsufficientPrivilege:
        if in_tx:
            conn.execute("ROLLBACK TO SAVEPOINT dc_ident")
        else:
            conn.rollback()
        row = conn.execute("SELECT " + conninfo.STARTED_SQL).fetchone()
        return f"started:{row[0]}" if row else ""
    finally:
        if in_tx:
            conn.execute("RELEASE SAVEPOINT dc_ident")


def maintenance_params(params: dict[str, str]) -> dict[str, str]:
    # CREATE/DROP/ALTER DATABASE run from the server's maintenance database
    return {**params, "dbname": params.get("maintenance_db", "postgres")}


@dataclass(frozen=True)
class ServerFacts:
    """What a target's server says about itself, for the protected-host guard."""

    host: str  # as libpq reached it: a name, an address or a socket folder
    address: str  # inet_server_addr(); empty on a Unix socket
    port: int
    cluster: str  # cluster_id()
    params: dict[str, str]

    def probe(self, address: str, port: int) -> str | None:
        return probe_cluster(self.params, address, port)


def server_facts(url: str) -> ServerFacts:
    """Connect to the target's maintenance database (nothing is created) and
    ask the server where it is and which cluster it is."""
    params = conninfo.resolve(url)
    admin = {**params, "dbname": params.get(conninfo.MAINTENANCE, "postgres")}
    with connect(admin, "target server's maintenance") as conn:
        address, port = conninfo.server_address(conn)
        return ServerFacts(conn.info.host, address, port, cluster_id(conn), params)


def probe_cluster(params: dict[str, str], address: str, port: int) -> str | None:
    """The identity of the server at ``address:port``, reached with the
    target's own credentials and a short timeout; None if it does not answer
    or will not say. Only ever used for addresses of this machine."""
    probe = {
        **conninfo.libpq_only(params),
        "host": address,
        "port": str(port),
        "dbname": params.get(conninfo.MAINTENANCE, "postgres"),
        "connect_timeout": "2",
    }
    probe.pop("hostaddr", None)
    try:
        with psycopg.connect(**probe, autocommit=True) as conn:
            return cluster_id(conn) or None
    except psycopg.Error:
        return None
