"""PostgreSQL engine: snapshot, schema via pg_dump sections, COPY out and in, swap.

The source is read in one read-only REPEATABLE READ transaction whose
snapshot is exported; pg_dump uses the same snapshot, so schema and rows are
one consistent picture. The target is built as ``<db>__dc_new`` on the
target's server and renamed into place only when everything succeeded.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from datacloner.core import guards, urls
from datacloner.engines.base import EngineBase, SwapPolicy
from datacloner.engines.postgres import conninfo
from datacloner.engines.postgres.build import PgTargetBuild
from datacloner.engines.postgres.connection import (
    ServerFacts,
    cluster_id,
    conn_params,
    connect,
    maintenance_params,
    server_facts,
)
from datacloner.engines.postgres.manifest import read_manifests
from datacloner.engines.postgres.source import PgSource
from datacloner.engines.postgres.swap import SYSTEM_DATABASES, PgGenerations, working_name

log = logging.getLogger(__name__)


class PostgresEngine(EngineBase):
    source_class = PgSource
    build_class = PgTargetBuild
    system_databases = SYSTEM_DATABASES  # never a target
    parallel_copy = True
    exported_snapshot = True
    rename_database = True
    archives = True
    subset = True
    subset_parallel = True  # workers read the selection from the new copy (subset.Selection)

    @contextlib.contextmanager
    def subset_store(
        self, target: PgTargetBuild, source: PgSource, catalog: Any, salt: str
    ) -> Iterator[Any]:
        """The selection of a subset (engines/postgres/subset.py), its keys kept
        in the new copy; the copy then reads only the selected rows."""
        from datacloner.engines.postgres.subset import PgSubsetStore

        store = PgSubsetStore(source, catalog, {**target.params, "dbname": target.name}, salt)
        try:
            yield store
        finally:
            store.close()  # ends the source's selection too

    def url_problem(self, url: str) -> str | None:
        return conninfo.url_problem(url)  # libpq's own keywords

    def endpoints(self, url: str) -> list[tuple[str, str, int, bool]]:
        return [
            (host, hostaddr, port, conninfo.is_socket(host) and not hostaddr)
            for host, hostaddr, port in conninfo.endpoints(conninfo.resolve(url))
        ]

    def server_facts(self, url: str) -> ServerFacts:
        return server_facts(url)

    def database_of(self, url: str) -> str:
        # as libpq reads the URL: ``?dbname=`` wins over the path
        parsed = urls.parse(url)
        name = parsed.query.get("dbname", parsed.database or "")
        return name if isinstance(name, str) else name[-1]

    def working_name(self, target: str, name: str) -> bool:
        return working_name(target, name)

    def target_identity(self, url: str) -> dict[str, str]:
        """The target's server and database name, to refuse a target that is
        the source under another spelling."""
        params = conn_params(url)
        admin_params = maintenance_params(params)
        params.pop("maintenance_db", None)
        # refused before anything else, here as in every run that changes the target
        guards.refuse_system_database(
            params.get("dbname", ""),
            (*self.system_databases, admin_params["dbname"]),
            "PostgreSQL",
        )
        with connect(admin_params, "target server's maintenance") as conn:
            return {
                "engine": "postgresql",
                "cluster": cluster_id(conn),
                "database": params.get("dbname", ""),
                "host": params.get("host", "localhost"),
            }

    @contextlib.contextmanager
    def _generations(self, url: str, keep: int) -> Iterator[PgGenerations]:
        params = conn_params(url)
        admin_params = maintenance_params(params)
        params.pop("maintenance_db", None)
        with connect(admin_params, "target server's maintenance") as admin:
            generations = PgGenerations(
                admin,
                params.get("dbname", ""),
                keep,
                lambda: connect(admin_params, "target server's maintenance"),
            )
            generations.lock()
            yield generations

    def rollback(self, url: str, policy: SwapPolicy) -> list[str]:
        with self._generations(url, policy.keep) as generations:
            return generations.rollback(policy)

    def generations(self, url: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """Each copy of the target, newest first, with its manifest rows."""
        params = conn_params(url)
        admin_params = maintenance_params(params)
        params.pop("maintenance_db", None)
        with connect(admin_params, "target server's maintenance") as admin:
            names = PgGenerations(admin, params.get("dbname", "")).existing()
        found = []
        for name in names:
            with connect({**params, "dbname": name}, "target") as conn:
                found.append((name, read_manifests(conn)))
        return found
