"""Connections to MySQL and MariaDB (PyMySQL), how a URL names its server and
schema, SQL quoting, and how a server error is worded without a value.

Values come back raw (text as ``str``, binary as ``bytes``, numbers and dates
as the server spells them): nothing is converted on the way through, so a
kept value is written back byte for byte (zero dates, ``DECIMAL`` digits,
``TIMESTAMP`` in UTC).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import pymysql.converters
from pymysql.constants import CLIENT

from datacloner.core import redaction, urls
from datacloner.core.errors import Refused, UsageError

# the server's own schemas: never a source of rows, never a target
SYSTEM_SCHEMAS = ("mysql", "sys", "information_schema", "performance_schema")
MAX_IDENT = 64  # characters in a MySQL identifier

# Python -> SQL literal encoders only: no decoders, so every value arrives raw
_ENCODERS = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}


@dataclass(frozen=True)
class Params:
    host: str
    port: int
    user: str
    password: str
    database: str
    unix_socket: str | None = None

    def kwargs(self) -> dict[str, Any]:
        args: dict[str, Any] = {"host": self.host, "port": self.port, "user": self.user}
        if self.password:
            args["password"] = self.password
        if self.unix_socket:
            args["unix_socket"] = self.unix_socket
        return args


def params_of(url: str) -> Params:
    parsed = urls.parse(url)
    query = {k: (v if isinstance(v, str) else v[-1]) for k, v in parsed.query.items()}
    unknown = sorted(set(query) - {"unix_socket", "charset"})
    if unknown:
        raise UsageError(
            f"the MySQL URL has options datacloner does not read: {', '.join(unknown)}",
            hint="supported: ?unix_socket=/path/to/mysqld.sock",
        )
    return Params(
        host=parsed.host or "localhost",
        port=int(parsed.port or 3306),
        user=parsed.username or "root",
        password=parsed.password or "",
        database=parsed.database or "",
        unix_socket=query.get("unix_socket"),
    )


def url_problem(url: str) -> str | None:
    try:
        params_of(url)
    except UsageError as exc:
        return exc.message
    return None


def connect(
    params: Params, what: str, multi: bool = False, database: str | None = None
) -> pymysql.connections.Connection:
    """A session in UTC and utf8mb4, autocommit (transactions are explicit)."""
    try:
        conn = pymysql.connect(
            **params.kwargs(),
            database=database,
            charset="utf8mb4",
            autocommit=True,
            conv=_ENCODERS,
            local_infile=True,
            connect_timeout=10,
            client_flag=CLIENT.MULTI_STATEMENTS if multi else 0,
        )
    except pymysql.err.MySQLError as exc:
        raise Refused(
            f"cannot connect to the {what} MySQL server at {params.host}:{params.port}: "
            f"{error_text(exc)}",
            hint="check the URL in datacloner.yml, that the server runs and accepts this user",
        ) from None
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")  # TIMESTAMP values read and written in UTC
    return conn


def q(name: str) -> str:
    """An identifier, backquoted."""
    return "`" + name.replace("`", "``") + "`"


def literal(conn: pymysql.connections.Connection, value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray):
        return "X'" + bytes(value).hex() + "'" if value else "''"
    return str(conn.literal(value))


def rows(conn: pymysql.connections.Connection, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def run(conn: pymysql.connections.Connection, sql: str, args: Any = None) -> None:
    with conn.cursor() as cur:
        cur.execute(sql, args)


def scalar(conn: pymysql.connections.Connection, sql: str, args: Any = None) -> Any:
    found = rows(conn, sql, args)
    return found[0][0] if found else None


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def server_identity(conn: pymysql.connections.Connection) -> str:
    """One server, whatever the URL's spelling: MySQL's server_uuid, else
    MariaDB's host name, data directory and port."""
    with contextlib.suppress(pymysql.err.MySQLError):
        found = scalar(conn, "SELECT @@server_uuid")
        if found:
            return text(found)
    host, datadir, port = rows(conn, "SELECT @@hostname, @@datadir, @@port")[0]
    return f"{text(host)}:{text(datadir)}:{text(port)}"


def is_mariadb(conn: pymysql.connections.Connection) -> bool:
    return "mariadb" in conn.get_server_info().lower()


# --- errors: named, never a value -------------------------------------------------------


def error_text(exc: BaseException, allowed: Iterable[str] = ()) -> str:
    """The error without the values it quotes (core/redaction.from_mysql)."""
    return redaction.from_mysql(exc, allowed)


@contextlib.contextmanager
def refused_on_error(what: str, hint: str, allowed: Iterable[str] = ()) -> Iterator[None]:
    try:
        yield
    except pymysql.err.MySQLError as exc:
        raise Refused(f"{what}: {error_text(exc, allowed)}", hint=hint) from None
