"""What every engine must do, written once against the engine protocol
(datacloner/engines/base.py), the runtime and the CLI; run for each engine
by the ``engine_env`` fixture (conftest.py beside this file)."""

from __future__ import annotations

import json

import pytest
from helpers import run_in_process

from datacloner.core.errors import DataclonerError, Refused, UsageError
from datacloner.core.manifest import secret_fingerprint
from datacloner.core.progress import QuietProgress
from datacloner.engines import registry as engines
from datacloner.engines.base import SwapPolicy
from datacloner.runtime import lifecycle
from datacloner.runtime import refresh as runtime

from .contract_env import CUSTOMERS, ENGINES, ORDERS, SECRET, EngineEnv

OTHER_SECRET = "contract-other-secret-0123456789"
# customers: (id, email, name, phone, born, city)
MASKED = (1, 2, 3)
KEPT = (0, 4, 5)


def _refresh(env: EngineEnv) -> runtime.Report:
    return runtime.refresh(env.config(), "dev", QuietProgress(), confirm=lambda target: None)


def _tables(env: EngineEnv, url: str) -> dict[str, list[tuple[object, ...]]]:
    return {t: env.rows(url, t) for t in ("customers", "orders")}


def _emails(env: EngineEnv) -> list[object]:
    return [row[1] for row in env.rows(env.target_url, "customers")]


def _shape(env: EngineEnv, url: str) -> dict[str, tuple[object, ...]]:
    """The two tables as the engine's catalog reads them: columns, keys, references."""
    with env.engine.open_source(url) as session:
        catalog = session.read_catalog()
    return {
        t.name: (
            [(c.name, c.type, c.nullable) for c in t.columns],
            t.primary_key,
            sorted(name[-1] for name in t.references),
        )
        for t in catalog.tables.values()
        if t.name in ("customers", "orders")
    }


def test_suite_covers_every_registered_engine() -> None:
    assert set(ENGINES) == set(engines.PLUGINS)


def test_catalog_tables_columns_keys_and_load_order(engine_env: EngineEnv) -> None:
    with engine_env.engine.open_source(engine_env.source_url) as source:
        catalog = source.read_catalog()
    by_name = {t.name: t for t in catalog.tables.values()}
    assert set(by_name) == {"customers", "orders"}
    customers, orders = by_name["customers"], by_name["orders"]
    assert [c.name for c in customers.columns] == ["id", "email", "name", "phone", "born", "city"]
    assert [c.name for c in orders.columns] == ["id", "customer_id", "placed", "note"]
    assert customers.primary_key == ["id"] and orders.primary_key == ["id"]
    nullable = {c.name: c.nullable for c in customers.columns}
    assert nullable["phone"] and nullable["city"] and not nullable["email"]
    assert customers.qualified in orders.references
    order = [t.name for t in catalog.load_order()]
    assert order.index("customers") < order.index("orders")


def test_sample_is_deterministic(engine_env: EngineEnv) -> None:
    with engine_env.engine.open_source(engine_env.source_url) as source:
        table = next(t for t in source.read_catalog().tables.values() if t.name == "customers")
        first = source.sample(table, table.columns, 10)
        second = source.sample(table, table.columns, 10)
    assert len(first) == 10
    assert first == second


def test_refresh_masks_keeps_and_preserves_null(engine_env: EngineEnv) -> None:
    source = _tables(engine_env, engine_env.source_url)
    report = _refresh(engine_env)
    assert report.rows == CUSTOMERS + ORDERS
    assert _tables(engine_env, engine_env.source_url) == source  # the source is only read
    # the copy has the source's schema: columns, types, NULLs, keys, references
    assert _shape(engine_env, engine_env.target_url) == _shape(engine_env, engine_env.source_url)
    copy = _tables(engine_env, engine_env.target_url)
    assert len(copy["customers"]) == CUSTOMERS and len(copy["orders"]) == ORDERS
    assert copy["orders"] == source["orders"]  # every column kept: identical
    for real, masked in zip(source["customers"], copy["customers"], strict=True):
        assert [masked[i] for i in KEPT] == [real[i] for i in KEPT]
        for i in MASKED:
            if real[i] is None:
                assert masked[i] is None  # NULL stays NULL
            else:
                assert masked[i] is not None and masked[i] != real[i]
    assert len(set(_emails(engine_env))) == CUSTOMERS  # unique: true holds


def test_previous_kept_status_newest_first_rollback_twice_redoes(engine_env: EngineEnv) -> None:
    _refresh(engine_env)
    first = _emails(engine_env)
    engine_env.write_config(secret=OTHER_SECRET)
    _refresh(engine_env)
    second = _emails(engine_env)
    assert first != second  # another secret, other fakes

    # `status` lists the copies newest first, each with its manifest
    done = run_in_process("status", "dev", "-c", str(engine_env.config_path), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = json.loads(done.stdout)
    assert [g["role"] for g in listed] == ["current", "previous"]
    assert [g["manifests"][0]["secret_fingerprint"] for g in listed] == [
        secret_fingerprint(OTHER_SECRET.encode()),
        secret_fingerprint(SECRET.encode()),
    ]
    assert listed[1]["name"].endswith(engine_env.working_suffixes[1])

    lifecycle.rollback(engine_env.config(), "dev")
    assert _emails(engine_env) == first
    lifecycle.rollback(engine_env.config(), "dev")  # twice: the rollback undone
    assert _emails(engine_env) == second


def test_second_concurrent_run_is_refused(engine_env: EngineEnv) -> None:
    _refresh(engine_env)
    before = _tables(engine_env, engine_env.target_url)
    engine = engine_env.engine
    # a run in progress: its build holds the target's lock
    with (
        engine.open_source(engine_env.source_url) as source,
        engine.build_target(engine_env.target_url, source, SwapPolicy()),
    ):
        with pytest.raises(Refused, match="another datacloner run"):
            _refresh(engine_env)
        with pytest.raises(Refused, match="another datacloner run"):
            lifecycle.rollback(engine_env.config(), "dev")
    assert _tables(engine_env, engine_env.target_url) == before
    _refresh(engine_env)  # the lock is gone with the run that held it


def test_failed_load_leaves_target_unchanged(engine_env: EngineEnv) -> None:
    _refresh(engine_env)
    before = _tables(engine_env, engine_env.target_url)
    (engine_env.folder / "broken.sql").write_text("SELECT * FROM no_such_table;\n")
    engine_env.write_config(extra_env="    after: [broken.sql]", secret=OTHER_SECRET)
    with pytest.raises(DataclonerError):
        _refresh(engine_env)
    assert _tables(engine_env, engine_env.target_url) == before
    new_copy = engine_env.target_url + engine_env.working_suffixes[0]
    assert not engine_env.exists(new_copy)  # the new copy was discarded


def test_system_databases_are_refused(engine_env: EngineEnv) -> None:
    system = engine_env.engine.system_databases
    if not system:
        pytest.skip(f"{engine_env.name} declares no system databases")
    for name in system:
        url = engine_env.target_of(name)
        engine_env.write_config(environments={"dev": url})
        with pytest.raises(UsageError, match="system database"):
            _refresh(engine_env)
        assert not engine_env.exists(url + engine_env.working_suffixes[0])


@pytest.mark.parametrize("which", [0, 1, 2])
def test_working_names_are_refused(engine_env: EngineEnv, which: int) -> None:
    working = engine_env.target_url + engine_env.working_suffixes[which]
    engine_env.write_config(environments={"dev": engine_env.target_url, "other": working})
    with pytest.raises(UsageError):  # exit 2 at config load
        engine_env.config()


def test_verify_passes_on_a_correct_copy(engine_env: EngineEnv) -> None:
    _refresh(engine_env)
    done = run_in_process("verify", "dev", "-c", str(engine_env.config_path))
    assert done.returncode == 0, done.stdout + done.stderr
