"""Lazy pools: the fast path of every Faker provider that has no compiled draw.

A provider with no recipe in :mod:`pools` (``date_of_birth``, ``iban``,
``user_agent``, anything with ``args``...) used to cost a Faker re-seed and a
call per value: 10-80 µs. Here each (secret, locale, provider, args) gets a
pool of :data:`SLOTS` outputs; a value's keyed digest picks its slot, and a
slot is made on first use by a real Faker call seeded from the slot's own
seed. So:

- the output of a slot depends only on (secret, locale, provider, args, slot
  index), never on which slots were made before or by whom: every process,
  worker and engine gives the same fake for the same input;
- a small table pays one Faker call per distinct value, as before, and a big
  one at most :data:`SLOTS` calls per rule and process, whatever its size;
- a rule has at most :data:`SLOTS` distinct fakes (before ``unique``'s token,
  which makes distinct inputs distinct outputs whatever the pool gives).

The seeds come from the secret (through :func:`keyed.rule_key`), not from
global random state: without the secret the pool is not known either.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import functools
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from faker import Factory, Generator

from datacloner.masking.keyed import rule_key

# Slots per pool: at most 8,192 distinct fakes per rule. A date of birth over 72 years
# (26k days) keeps ~7k of them; a 1M-row column repeats each fake ~120 times.
# Bounded so a pool costs at most SLOTS Faker calls (0.05-0.8 s) per process.
SLOTS = 8_192
_PERSON_POOL = b"dc-pool-v1"
EMPTY = object()  # a slot not made yet (None is a valid fake: null_boolean)
# Outputs handed out as copies: a row that changes its list must not change the pool.
MUTABLE = (list, dict, set, bytearray)
# Immutable outputs the native path hands out as they are (besides text).
PLAIN = (
    int,
    bool,
    float,
    decimal.Decimal,
    datetime.date,
    datetime.datetime,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    bytes,
)


@functools.cache
def _generator(locale: str) -> Generator:
    """One generator per locale for all its pools (each call is re-seeded)."""
    generator = Factory.create(locale)
    generator.seed_instance(0)  # a private Random, never the global one
    return generator


_LOCK = threading.Lock()  # seeding + calling a shared generator is not atomic


class Slots:
    """A lazy pool: ``draw(n)`` takes ``n % SLOTS`` as the slot, like the draws
    of :mod:`pools` (the rest of the bits are returned for the next part)."""

    __slots__ = ("items", "size", "_seed_state", "_call", "mutable")

    def __init__(self, key: bytes, call: Callable[[int], Any], size: int = SLOTS) -> None:
        self.size = size
        self.items: list[Any] = [EMPTY] * size
        self._seed_state = hashlib.blake2b(key=key, digest_size=8, person=_PERSON_POOL)
        self._call = call
        self.mutable = False  # set once a list or mapping was made: draws hand out copies

    def seed(self, slot: int) -> int:
        """The slot's own seed: BLAKE2b(slot, key = the pool's key)."""
        h = self._seed_state.copy()
        h.update(slot.to_bytes(4, "big"))
        return int.from_bytes(h.digest(), "big")

    def fill(self, slot: int) -> Any:
        """Slot ``slot``, made now if it was not (thread-safe; the same value
        whoever makes it, so a race only costs a call)."""
        item = self.items[slot]
        if item is EMPTY:
            with _LOCK:
                item = self._call(self.seed(slot))
            if isinstance(item, MUTABLE):
                self.mutable = True
            self.items[slot] = item
        return item

    def draw(self, n: int) -> tuple[Any, int]:
        """Slot ``n % size``'s fake (a copy if a list or mapping), and ``n // size``."""
        n, slot = divmod(n, self.size)
        item = self.items[slot]
        if item is EMPTY:
            item = self.fill(slot)
        return (copy.deepcopy(item) if self.mutable else item), n


def _identity(locale: str, name: str, args: Mapping[str, Any]) -> str:
    return json.dumps(
        {"pool": name, "locale": locale, "args": dict(args)}, sort_keys=True, default=str
    )


_POOLS: dict[bytes, Slots] = {}
_POOL_LOCK = threading.Lock()  # two threads asking for a new pool build one


def pool(secret: bytes, locale: str, name: str, args: Mapping[str, Any]) -> Slots:
    """The pool of ``name(**args)`` in ``locale`` under ``secret``: built once
    per process (its slots lazily), shared by every rule that calls the same
    provider with the same args (unique or not: the rule's own key picks slots)."""
    key = rule_key(secret, _identity(locale, name, args))
    found = _POOLS.get(key)
    if found is None:
        generator = _generator(locale)
        provider = getattr(generator, name)
        rng = generator.random
        kwargs = dict(args)

        def call(seed: int) -> Any:
            rng.seed(seed)
            return provider(**kwargs)

        with _POOL_LOCK:
            found = _POOLS.get(key)
            if found is None:
                found = _POOLS[key] = Slots(key, call)
    return found


def clear() -> None:
    """Forget every pool (the benchmark counts a cold process's build)."""
    _POOLS.clear()
