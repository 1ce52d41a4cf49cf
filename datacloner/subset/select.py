"""The row selection: start rows, then down and up along the plan's edges,
round after round until a round adds nothing (a fixpoint: cycles end by
themselves, no hand-written break).

Semi-naive rounds: round ``r`` follows only the rows that round ``r - 1``
added (or turned into down rows), so each row is followed once per edge.
A row is a *down* row when it is a start row or a child of a down row; only
down rows pull their children. A row pulled in only as a parent never does:
that is how subsets balloon.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol

from datacloner.core.catalog import QualifiedName
from datacloner.core.subset import Start
from datacloner.subset.graph import Edge, SubsetPlan

MAX_ROUNDS = 10_000  # a fixpoint comes far sooner; this only stops a bug from spinning


class Store(Protocol):
    """An engine's side of the selection: reads in the source's snapshot, the
    selected keys kept in the new copy being built (never in the source)."""

    def prepare(self, plan: SubsetPlan) -> None: ...

    def seed(self, table: QualifiedName, start: Start) -> int:
        """Insert a start table's rows as down rows of round 0; rows added."""
        ...

    def down(self, edge: Edge, round_: int) -> int:
        """Children (``edge.child``) of the parent's down rows of round - 1, as
        down rows of ``round_`` (at most ``edge.cap`` per parent); rows new or
        turned into down rows."""
        ...

    def up(self, edge: Edge, round_: int) -> int:
        """Parents (``edge.parent``) of the child's rows added in round - 1
        (every row, for a child copied whole, in round 0), as rows of ``round_``."""
        ...

    def counts(self) -> dict[QualifiedName, int]:
        """Selected rows per selected leaf."""
        ...


class FollowingStore(ABC):
    """``down`` and ``up`` along a foreign key, the same for every engine. An
    engine's store says how the keys of one generation are followed
    (``_follow``) and how a table copied whole pulls its parents
    (``_up_from_whole``)."""

    tables: dict[QualifiedName, Any]  # the selected tables -> their key store

    @abstractmethod
    def _follow(
        self,
        frm: QualifiedName,
        frm_columns: tuple[str, ...],
        to: QualifiedName,
        to_columns: tuple[str, ...],
        generation: str,
        gen: int,
        down: bool,
        cap: int | None,
    ) -> int:
        """Rows of ``to`` whose ``to_columns`` match ``frm_columns`` of the
        ``frm`` rows with ``generation`` (``down_gen``/``up_gen``) = gen - 1,
        stored as rows of ``gen`` (down rows when ``down``); rows added."""

    @abstractmethod
    def _up_from_whole(self, edge: Edge) -> int:
        """Every parent the rows of a child copied whole reference, once."""

    def down(self, edge: Edge, round_: int) -> int:
        return self._follow(
            edge.parent,
            edge.fk.ref_columns,
            edge.child,
            edge.fk.columns,
            "down_gen",
            round_,
            True,
            edge.cap,
        )

    def up(self, edge: Edge, round_: int) -> int:
        if edge.child not in self.tables:  # a table copied whole: all its rows, once
            return self._up_from_whole(edge)
        return self._follow(
            edge.child,
            edge.fk.columns,
            edge.parent,
            edge.fk.ref_columns,
            "up_gen",
            round_,
            False,
            None,
        )


def subset_salt(secret: bytes) -> str:
    """The key of the row hash: derived from the config's secret (never the
    secret itself in a query), so the same secret picks the same rows."""
    return hmac.new(secret, b"datacloner subset v1", hashlib.sha256).hexdigest()[:32]


def select(
    plan: SubsetPlan, store: Store, note: Callable[[str], None] = lambda _: None
) -> dict[QualifiedName, int]:
    """Fill ``store`` with the subset's rows; selected rows per leaf."""
    store.prepare(plan)
    # rows each table gained in the last round (any, and as down rows): an edge
    # from a table that gained none has nothing to follow this round
    gained: dict[QualifiedName, int] = {}
    gained_down: dict[QualifiedName, int] = {}
    for table, start in plan.starts.items():
        n = store.seed(table, start)
        gained[table] = gained.get(table, 0) + n
        gained_down[table] = gained_down.get(table, 0) + n
    whole = [e for e in plan.up_edges if plan.roles[e.child] not in ("start", "down", "up")]
    for edge in whole:
        gained[edge.parent] = gained.get(edge.parent, 0) + store.up(edge, 0)
    following = [e for e in plan.up_edges if e not in whole]
    for round_ in range(1, MAX_ROUNDS):
        now: dict[QualifiedName, int] = {}
        now_down: dict[QualifiedName, int] = {}
        for edge in plan.down_edges:
            if gained_down.get(edge.parent):
                n = store.down(edge, round_)
                now[edge.child] = now.get(edge.child, 0) + n
                now_down[edge.child] = now_down.get(edge.child, 0) + n
        for edge in following:
            if gained.get(edge.child):
                now[edge.parent] = now.get(edge.parent, 0) + store.up(edge, round_)
        added = sum(now.values())
        note(f"subset: round {round_}: {added} rows added")
        if not added:
            break
        gained, gained_down = now, now_down
    return store.counts()
