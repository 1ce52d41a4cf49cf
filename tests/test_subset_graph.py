"""The subset's table-level plan (no database): who starts, who comes down,
who comes up, what is whole or empty, and the mistakes named at their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacloner.core.catalog import Catalog, Column, Table
from datacloner.core.errors import UsageError
from datacloner.core.location import Location
from datacloner.core.rules import TableName
from datacloner.core.subset import Listed, Start, SubsetSpec
from datacloner.subset.graph import (
    DOWN,
    EMPTY,
    START,
    UP,
    WHOLE,
    ForeignKey,
    build_subset,
    describe,
)

AT = Location(Path("datacloner.yml"), 7)


def _table(
    name: str, *cols: str, rows: int = 1000, parent: str | None = None, part: bool = False
) -> Table:
    return Table(
        "public",
        name,
        [Column(c, "integer") for c in ("id", *cols)],
        primary_key=["id"],
        row_estimate=rows,
        parent=("public", parent) if parent else None,
        partitioned=part,
    )


def _fk(child: str, col: str, parent: str, nullable: bool = False) -> ForeignKey:
    return ForeignKey(
        f"{child}_{col}", ("public", child), (col,), ("public", parent), ("id",), nullable
    )


CATALOG = Catalog(
    {
        t.qualified: t
        for t in [
            _table("tenants"),
            _table("users", "tenant_id", "manager_id"),
            _table("orders", "user_id", "coupon_id"),
            _table("lines", "order_id"),
            _table("coupons"),
            _table("events", "user_id", part=True),
            _table("events_1", "user_id", parent="events"),
            _table("events_2", "user_id", parent="events"),
            _table("lonely"),
        ]
    },
    "public",
)
FKS = [
    _fk("users", "tenant_id", "tenants"),
    _fk("users", "manager_id", "users", nullable=True),
    _fk("orders", "user_id", "users"),
    _fk("orders", "coupon_id", "coupons", nullable=True),
    _fk("lines", "order_id", "orders"),
    _fk("events", "user_id", "users"),
]


def _spec(**kw) -> SubsetSpec:
    starts = kw.pop("starts", (Start(TableName("public", "users"), AT, share=2.0),))
    return SubsetSpec(location=AT, starts=starts, **kw)


def _listed(name: str, line: int = 9) -> Listed:
    return Listed(TableName("public", name), Location(Path("datacloner.yml"), line))


def test_start_down_up_whole_and_partitions():
    plan = build_subset(CATALOG, FKS, _spec())
    roles = {t[1]: r for t, r in plan.roles.items()}
    assert roles == {
        "users": START,
        "orders": DOWN,
        "lines": DOWN,
        "events_1": DOWN,
        "events_2": DOWN,
        "tenants": UP,
        "coupons": UP,
        "lonely": WHOLE,
    }
    # a self-reference is followed up (managers) but never down (every report)
    assert not [e for e in plan.down_edges if e.child == e.parent]
    assert [e for e in plan.up_edges if e.fk.name == "users_manager_id"]
    # a row pulled up never pulls children: no down edge leaves an up-only table
    assert not [e for e in plan.down_edges if plan.roles[e.parent] == UP]
    assert plan.estimates[("public", "users")] == 20
    down, up = plan.reach["public.users"]
    assert down == ["public.events", "public.lines", "public.orders"]
    assert up == ["public.coupons", "public.tenants"]
    text = "\n".join(describe(CATALOG, plan))
    assert "start public.users: 2%" in text and "public.events: down: ~" in text


def test_nullable_null_cuts_the_nullable_keys_and_clears_them():
    plan = build_subset(CATALOG, FKS, _spec(nullable="null", disconnected="empty"))
    assert plan.roles[("public", "coupons")] == EMPTY  # no longer reached
    assert {fk.name for fk in plan.nulled} == {"users_manager_id", "orders_coupon_id"}
    assert plan.roles[("public", "lonely")] == EMPTY


def test_an_empty_parent_of_kept_rows_is_refused_unless_nullable():
    with pytest.raises(UsageError) as info:
        build_subset(CATALOG, FKS, _spec(empty=(_listed("tenants"),)))
    assert "datacloner.yml:7: subset: public.users keeps rows but references public.tenants" in str(
        info.value
    )
    plan = build_subset(CATALOG, FKS, _spec(empty=(_listed("coupons"),)))
    assert [fk.name for fk in plan.nulled] == ["orders_coupon_id"]


def test_unknown_tables_and_useless_caps_are_named_at_their_line():
    with pytest.raises(UsageError) as info:
        build_subset(CATALOG, FKS, _spec(whole=(_listed("order"),)))
    assert (
        "datacloner.yml:9: subset: table public.order is not in the source; "
        "did you mean public.orders" in str(info.value)
    )
    with pytest.raises(UsageError) as info:
        build_subset(CATALOG, FKS, _spec(children=((_listed("tenants", 11), 5),)))
    assert "datacloner.yml:11: subset: children: public.tenants is never pulled down" in str(
        info.value
    )
    plan = build_subset(CATALOG, FKS, _spec(children=((_listed("orders"), 5),)))
    assert {e.cap for e in plan.down_edges if e.child == ("public", "orders")} == {5}


def test_a_table_the_rules_skip_stays_empty():
    plan = build_subset(CATALOG, FKS, _spec(), skipped=frozenset({("public", "lines")}))
    assert plan.roles[("public", "lines")] == EMPTY
    assert not [e for e in plan.down_edges if e.child == ("public", "lines")]
