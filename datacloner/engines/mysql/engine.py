"""MySQL and MariaDB engine: a consistent read-only snapshot of one schema,
a new copy built as a schema beside the target, swapped in by one atomic
``RENAME TABLE`` (docs/mysql.md).

A MySQL "database" is a schema: URLs name one (``mysql://user@host/app``),
and the target's generations are the schemas ``app``, ``app__dc_prev``...
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from datacloner.core import guards, urls
from datacloner.core.catalog import Catalog
from datacloner.engines.base import EngineBase, SwapPolicy
from datacloner.engines.mysql.build import MyTargetBuild
from datacloner.engines.mysql.connection import (
    SYSTEM_SCHEMAS,
    connect,
    params_of,
    server_identity,
    url_problem,
)
from datacloner.engines.mysql.source import MySource
from datacloner.engines.mysql.swap import MyGenerations, working_name


class MysqlEngine(EngineBase):
    source_class = MySource
    build_class = MyTargetBuild
    system_databases = SYSTEM_SCHEMAS
    parallel_copy = True  # threads on one snapshot (parallel.py)
    exported_snapshot = False
    rename_database = False  # tables move between schemas; the schemas stay
    archives = False
    subset = True

    @contextlib.contextmanager
    def subset_store(
        self, target: MyTargetBuild, source: MySource, catalog: Catalog, salt: str
    ) -> Iterator[Any]:
        """The selection of a subset (engines/mysql/subset.py), its keys kept in
        the new copy's schema; the copy then reads only the selected rows."""
        from datacloner.engines.mysql.subset import MySubsetStore

        store = MySubsetStore(source, catalog, target.params, target.name, salt)
        source.selected = store.keys
        try:
            yield store
        finally:
            source.selected = None
            store.close()

    def url_problem(self, url: str) -> str | None:
        return url_problem(url)

    def endpoints(self, url: str) -> list[tuple[str, str, int, bool]]:
        params = params_of(url)
        if params.unix_socket:
            return [(params.unix_socket, "", 0, True)]
        host = params.host
        if host == "localhost":
            # the MySQL client reads `localhost` as its default Unix socket
            return [("localhost", "", params.port, True)]
        try:
            infos = socket.getaddrinfo(host, params.port, proto=socket.IPPROTO_TCP)
        except OSError:
            return [(host, "", params.port, False)]
        return sorted({(host, str(info[4][0]), params.port, False) for info in infos})

    def database_of(self, url: str) -> str:
        return urls.parse(url).database or ""

    def working_name(self, target: str, name: str) -> bool:
        return working_name(target, name)

    def target_identity(self, url: str) -> dict[str, str]:
        params = params_of(url)
        guards.refuse_system_database(params.database, SYSTEM_SCHEMAS, "MySQL")
        conn = connect(params, "target")
        try:
            return {
                "engine": "mysql",
                "cluster": server_identity(conn),
                "database": params.database,
                "host": params.host,
            }
        finally:
            conn.close()

    def rollback(self, url: str, policy: SwapPolicy) -> list[str]:
        params = params_of(url)
        conn = connect(params, "target")
        try:
            generations = MyGenerations(conn, params.database, policy.keep)
            generations.lock()
            return generations.repair() + generations.rollback(policy)
        finally:
            conn.close()

    def generations(self, url: str) -> list[tuple[str, list[dict[str, Any]]]]:
        params = params_of(url)
        conn = connect(params, "target")
        try:
            generations = MyGenerations(conn, params.database)
            return [(name, generations.manifests(name)) for name in generations.existing()]
        finally:
            conn.close()
