"""``{shift: {days: 30}}``: move dates and timestamps by a keyed amount, within bounds.

The amount depends on the input (its keyed hash), is never zero, and is at
most the bound either way: ``{days: 30}`` moves by 1 to 30 days, earlier or
later. Give ``hours``, ``minutes`` or ``seconds`` too (they add up) and
timestamps move at that finer grain; dates always move by whole days (at
least one).

Inputs: ``date`` and ``datetime`` objects (SQLAlchemy), and text as PostgreSQL
COPY and SQLite give it (``2022-02-15``, ``2022-02-15 09:57:20+00``,
``2022-02-15T09:57:20.123456``). Text comes back as text in the same layout:
separator, seconds, fraction and time zone suffix as they were.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from datacloner.core.yamlsource import unknown_key
from datacloner.masking.base import Unmaskable, ValueFn, spec_error
from datacloner.masking.columns import DATE, TEXT, TIMESTAMP, ColumnType
from datacloner.masking.fitting import type_label
from datacloner.masking.keyed import KeyedHash, canonical_bytes, uniform
from datacloner.masking.kinds import Kind
from datacloner.masking.spec import MaskSpec, RuleSource, SpecParser, is_int

SHIFT_UNITS = ("days", "hours", "minutes", "seconds")
_UNIT_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
_TEXT = re.compile(
    r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:(?P<sep>[T ])(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<frac>\.\d+)?)?)?"
    r"(?P<tz>\s*(?:Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?))?"
)
_KEEP = {"infinity", "-infinity"}  # PostgreSQL's special values hold nothing personal


def bounds(spec: MaskSpec) -> tuple[int, int, int]:
    """(largest shift in seconds, grain in seconds, largest shift of a date in days)."""
    options = spec.options
    total = sum(options.get(unit, 0) * secs for unit, secs in _UNIT_SECONDS.items())
    grain = min(_UNIT_SECONDS[u] for u in _UNIT_SECONDS if options.get(u))
    return total, grain, max(1, total // 86400)


def check_shift(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:
    if col is None:
        return
    if col.category not in (DATE, TIMESTAMP, TEXT, "other"):
        raise spec_error(
            spec,
            column,
            f"shift moves dates and timestamps; column type is {type_label(col)}",
            hint="Use {noise: {ratio: 0.1}} for numbers.",
        )
    if col.category == DATE and bounds(spec)[0] < 86400:
        raise spec_error(
            spec,
            column,
            f"a date moves by whole days, and this shift is less than a day ({col.spelling})",
            hint="Give days, e.g. {shift: {days: 30}}.",
        )


def _offset(digest: bytes, largest: int) -> int:
    """A keyed whole number in [-largest, -1] or [1, largest]: never zero."""
    r = uniform(digest, 0, 0, 2 * largest - 1)
    return r - largest if r < largest else r - largest + 1


def shift_value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:
    keyed = KeyedHash(secret, spec.identity())
    total, grain, date_days = bounds(spec)
    steps = total // grain

    def moved(value: Any, seconds: int) -> Any:
        for delta in (seconds, -seconds):  # near year 1 or 9999: move the other way
            try:
                return value + timedelta(seconds=delta)
            except OverflowError:
                continue
        raise Unmaskable("date out of range")

    def shift_text(text: str, digest: bytes) -> str:
        m = _TEXT.fullmatch(text.strip())
        if m is None:
            if text.strip().lower() in _KEEP:
                return text
            raise Unmaskable("not a date or timestamp")
        y, mo, d = int(m["y"]), int(m["m"]), int(m["d"])
        try:
            if m["H"] is None:
                day = date(y, mo, d)
                new_day = moved(day, _offset(digest, date_days) * 86400)
                return f"{new_day.year:04d}-{new_day.month:02d}-{new_day.day:02d}" + (m["tz"] or "")
            stamp = datetime(y, mo, d, int(m["H"]), int(m["M"]), int(m["S"] or 0))
        except ValueError:
            raise Unmaskable("not a valid date") from None
        seconds = _offset(digest, steps) * grain
        if m["S"] is None and seconds % 60:  # the text has no seconds to show it
            seconds = (seconds // 60) * 60 or (60 if seconds > 0 else -60)
        new = moved(stamp, seconds)
        out = (
            f"{new.year:04d}-{new.month:02d}-{new.day:02d}{m['sep']}{new.hour:02d}:{new.minute:02d}"
        )
        if m["S"] is not None:
            out += f":{new.second:02d}" + (m["frac"] or "")
        return out + (m["tz"] or "")

    def mask(value: Any) -> Any:
        digest = keyed(canonical_bytes(value))
        if isinstance(value, datetime):
            return moved(value, _offset(digest, steps) * grain)
        if isinstance(value, date):
            return moved(value, _offset(digest, date_days) * 86400)
        if isinstance(value, str):
            return shift_text(value, digest)
        raise Unmaskable(f"shift needs a date or timestamp, got {type(value).__name__}")

    return mask


def parse(p: SpecParser, rule: RuleSource) -> MaskSpec | None:
    label, body, where = rule.label, rule.body, rule.where
    if not isinstance(body, dict) or not body:
        p.error(where, f"{label}.shift: expected a mapping, e.g. {{days: 30}}")
        return None
    ok = True
    options: dict[str, int] = {}
    for key, amount in body.items():
        if key not in SHIFT_UNITS:
            p.error((*where, key), f"{label}.shift: {unknown_key(key, SHIFT_UNITS)}")
            ok = False
        elif not is_int(amount) or amount < 0:
            p.error((*where, key), f"{label}.shift.{key}: expected a whole number >= 0")
            ok = False
        else:
            options[key] = amount
    if ok and not any(options.values()):
        p.error(where, f"{label}.shift: the largest shift is 0; e.g. {{days: 30}}")
        ok = False
    return MaskSpec(kind="shift", location=rule.location, options=options) if ok else None


def _changes(spec: MaskSpec) -> bool:
    return True  # a shift never moves a value by zero (verify's same-row check)


KIND = Kind("shift", check=check_shift, parse=parse, value_fn=shift_value_fn, changes=_changes)
