"""The engine contract suite's fixture ``engine_env``: parametrized over every
engine, each with a small source of the same logical schema, a fresh target,
the rules and a datacloner.yml in tmp_path (built by contract_env.py).

A new engine joins the suite with a branch in both fixtures below; every test
in this folder then runs against it (docs/design.md, "The engine contract suite").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from datacloner.engines import registry as engines

from .contract_env import (
    ENGINES,
    RULES,
    EngineEnv,
    mysql_query,
    mysql_schema,
    mysql_source,
    pg_query,
    pg_source,
    sqlite_path,
    sqlite_query,
    sqlite_source,
)

# --- the fixture --------------------------------------------------------------------

# the servers the mysql engine runs against: MariaDB here, MySQL 8 where Docker runs
MY_SERVERS = {"mysql": "mariadb", "mysql8": "mysql8"}


@pytest.fixture(scope="module", params=(*ENGINES, "mysql8"))
def engine_source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, run_id: str
) -> Iterator[tuple[str, str]]:
    """(engine name, source URL): built once per module and engine, only read."""
    if request.param == "postgresql":
        pg = request.getfixturevalue("pg")
        name = f"dct_{run_id}_contract_src"
        pg_source(pg, name)
        yield request.param, pg.url(name)
        pg.drop(name)
    elif request.param in MY_SERVERS:
        server = request.getfixturevalue(MY_SERVERS[request.param])
        name = f"dct_{run_id}_contract_src"
        mysql_source(server, name)
        yield request.param, server.url(name)
        server.drop(name)
    else:
        path = tmp_path_factory.mktemp("contract") / "source.db"
        sqlite_source(path)
        yield request.param, f"sqlite:///{path}"


@pytest.fixture
def engine_env(
    request: pytest.FixtureRequest, engine_source: tuple[str, str], tmp_path: Path, run_id: str
) -> Iterator[EngineEnv]:
    """A fresh target (not yet created) beside the module's source, with the
    rules and a datacloner.yml whose environment ``dev`` is the target."""
    name, source_url = engine_source
    if name == "postgresql":
        pg = request.getfixturevalue("pg")
        target = f"dct_{run_id}_ct{uuid.uuid4().hex[:4]}"
        env = EngineEnv(
            name=name,
            engine=engines.engine_of(source_url),
            source_url=source_url,
            target_url=pg.url(target),
            folder=tmp_path,
            prefix="public.",
            query=pg_query(pg),
            exists=lambda url: pg.exists(url.rsplit("/", 1)[1]),
            target_of=pg.url,
            working_suffixes=("__dc_new", "__dc_prev", "__dc_prev2"),
        )
        env.cleanup.append(
            lambda: pg.drop(
                target, target + "__dc_new", target + "__dc_prev", target + "__dc_prev2"
            )
        )
    elif name in MY_SERVERS:
        server = request.getfixturevalue(MY_SERVERS[name])
        target = f"dct_{run_id}_ct{uuid.uuid4().hex[:4]}"
        env = EngineEnv(
            name="mysql",
            engine=engines.engine_of(source_url),
            source_url=source_url,
            target_url=server.url(target),
            folder=tmp_path,
            prefix="",
            query=mysql_query(server),
            exists=lambda url: server.exists(mysql_schema(url)),
            target_of=server.url,
            working_suffixes=("__dc_new", "__dc_prev", "__dc_prev2"),
        )
        env.cleanup.append(
            lambda: server.drop(
                *(target + s for s in ("", "__dc_new", "__dc_prev", "__dc_prev2", "__dc_tmp"))
            )
        )
    else:
        env = EngineEnv(
            name=name,
            engine=engines.engine_of(source_url),
            source_url=source_url,
            target_url=f"sqlite:///{tmp_path / 'target.db'}",
            folder=tmp_path,
            prefix="",
            query=sqlite_query,
            exists=lambda url: sqlite_path(url).exists(),
            target_of=lambda db: f"sqlite:///{tmp_path / db}",
            working_suffixes=(".dc_new", ".prev", ".prev2"),
        )
    (tmp_path / "rules.yml").write_text(RULES.format(p=env.prefix))
    env.write_config()
    yield env
    for step in env.cleanup:
        step()
