"""``{faker: provider, args: {...}, locale: xx_XX, unique: bool}``: realistic fakes.

Determinism: per value, the keyed hash of the input picks the fake. Common
providers are drawn from Faker's own lists and formats with the digest's bits
(:mod:`pools`: exact, every output reachable); every other provider, locale
and args from a pool of its real outputs, each slot made once by a Faker call
seeded from the secret and the slot (:mod:`slots`). Both are functions of
(secret, rule, input) only, so the same input gives the same fake in every
table, run, process and worker: outputs never depend on row order.

A fake never equals its input (:func:`base.same_as_source`: case, spaces and
punctuation aside): when the draw gives the input back (a Smith drawn for a
Smith), it is drawn again from ``derive(digest, REDRAW_BASE + n)``, a digest
of the same input, so the result is as deterministic as the first draw.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import locale as pylocale
import threading
from typing import Any

from faker import Factory, Generator
from faker.config import AVAILABLE_LOCALES

from datacloner.core.errors import UsageError
from datacloner.masking import pools, slots
from datacloner.masking.base import (
    REDRAW_BASE,
    REDRAWS,
    Masker,
    ValueFn,
    over_batch,
    same_as_source,
    spec_error,
)
from datacloner.masking.columns import ColumnType
from datacloner.masking.fast import native_faker
from datacloner.masking.fitting import check_samples, check_unique_room
from datacloner.masking.keyed import (
    VALUE_PERSON,
    KeyedHash,
    canonical_bytes,
    derive,
    rule_key,
)
from datacloner.masking.kinds import Kind
from datacloner.masking.pools import bits_of
from datacloner.masking.spec import BAD, MaskSpec, RuleSource, SpecParser
from datacloner.masking.unique import fit_text, make_unique

DEFAULT_LOCALE = "en_US"
# Per compiled masker: repeated inputs (an email in an audit log) skip Faker.
# Bounded, so memory stays constant whatever the table size: keys are 32-byte
# digests, never the (possibly large) inputs. (The native draw, _fastdraw.c,
# keeps a memo of its own in front of this one, keyed by the input texts
# themselves: at most 32,768, dropped when it does not earn its keep.)
DEFAULT_CACHE_SIZE = 65_536
_PROVIDERS_URL = "https://faker.readthedocs.io/en/master/providers.html"
_MISS = object()


def resolve_locale(name: str | None) -> str | None:
    """Faker's name for a locale (``en-gb`` -> ``en_GB``), or None when Faker has none."""
    if name is None:
        return DEFAULT_LOCALE
    if not isinstance(name, str) or not name.strip():
        return None
    # The same normalisation Faker's Factory.create applies.
    normalised = pylocale.normalize(name.strip().replace("-", "_")).split(".")[0]
    return normalised if normalised in AVAILABLE_LOCALES else None


def close_locales(name: str) -> list[str]:
    """Locales a user probably meant: similar spelling, then the same language."""
    by_lower = {loc.lower(): loc for loc in AVAILABLE_LOCALES}
    wanted = name.strip().replace("-", "_").lower()
    similar = [by_lower[m] for m in difflib.get_close_matches(wanted, by_lower, n=5, cutoff=0.6)]
    language = wanted.split("_")[0]
    same_language = sorted(
        loc for loc in AVAILABLE_LOCALES if loc.lower().split("_")[0] == language
    )
    return list(dict.fromkeys(similar + same_language))[:8]


@functools.cache
def _reference_generator(locale: str) -> Generator:
    """One generator per locale for validation only (building one takes milliseconds)."""
    generator = Factory.create(locale)
    generator.seed_instance(0)  # its own Random: validation never touches the global one
    return generator


_CHECK_LOCK = threading.Lock()  # the reference generators are shared; seeding + call is not atomic


@functools.cache
def provider_names(locale: str) -> frozenset[str]:
    """Every provider a Faker of ``locale`` offers (what ``fake.<name>()`` accepts).

    Mirrors Faker's own ``Generator.add_provider``: the public callables of its
    providers. Generator plumbing such as ``seed_instance`` is deliberately not
    included.
    """
    names: set[str] = set()
    for provider in _reference_generator(locale).get_providers():
        for name in dir(provider):
            if not name.startswith("_") and callable(getattr(provider, name, None)):
                names.add(name)
    return frozenset(names)


def _locale_of(spec: MaskSpec, column: str | None) -> str:
    locale = resolve_locale(spec.locale)
    if locale is None:
        suggestions = close_locales(str(spec.locale))
        did_you_mean = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        raise spec_error(
            spec,
            column,
            f"unknown Faker locale {spec.locale!r}.{did_you_mean}",
            hint="Locales look like en_US, en_GB, de_DE, fr_FR; "
            "see faker.config.AVAILABLE_LOCALES for the full list.",
        )
    return locale


def _check_provider_name(spec: MaskSpec, column: str | None, locale: str) -> str:
    name = spec.provider
    if not isinstance(name, str) or not name:
        raise spec_error(
            spec,
            column,
            "a faker rule needs a provider name, e.g. {faker: email}",
            hint=f"Providers are listed at {_PROVIDERS_URL}",
        )
    names = provider_names(locale)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
        if not close:  # e.g. "Email" or "EMAIL": try ignoring case
            close = sorted(n for n in names if n.lower() == name.lower())
        did_you_mean = f" Did you mean: {', '.join(close)}?" if close else ""
        raise spec_error(
            spec,
            column,
            f"unknown Faker provider {name!r} (locale {locale}).{did_you_mean}",
            hint=f"Providers are listed at {_PROVIDERS_URL}",
        )
    return name


SAMPLES = 5  # fixed seeds a provider is probed with at plan time
_SAMPLES: dict[tuple[str, str, str], tuple[Any, ...]] = {}  # (locale, provider, args)


def sample_outputs(spec: MaskSpec, column: str | None) -> list[Any]:
    """The provider called with fixed seeds: validates args, shows the output type.

    Raises UsageError for an unknown provider or locale, or bad args."""
    locale = _locale_of(spec, column)
    name = _check_provider_name(spec, column, locale)
    if not isinstance(spec.args, dict) or not all(isinstance(k, str) for k in spec.args):
        raise spec_error(
            spec,
            column,
            f"args of Faker provider {name!r} must be a mapping of argument names to values, "
            f"got {spec.args!r}",
            hint="e.g. {faker: date_of_birth, args: {minimum_age: 18}}",
        )
    # Fixed seeds give the same samples every time: a schema with the same
    # provider on a thousand columns probes it once. Only successes are kept, so
    # an error still names its own rule's file:line.
    key = (locale, name, repr(sorted(spec.args.items())))
    cached = _SAMPLES.get(key)
    if cached is not None:
        return list(cached)
    generator = _reference_generator(locale)
    provider = getattr(generator, name)
    samples = []
    # Call it with fixed seeds: the only reliable way to validate args (Faker
    # providers take **kwargs, have defaults that depend on each other...).
    with _CHECK_LOCK:
        for seed in range(SAMPLES):
            generator.seed_instance(seed)
            try:
                samples.append(provider(**spec.args))
            except TypeError as exc:
                raise spec_error(
                    spec,
                    column,
                    f"bad args for Faker provider {name!r}: {exc}",
                    hint=f"It takes: {name}{_signature(provider)}",
                ) from None
            except Exception as exc:  # any failure here is down to the rule's args
                raise spec_error(
                    spec,
                    column,
                    f"Faker provider {name!r} fails with args {spec.args!r}: "
                    f"{type(exc).__name__}: {exc}",
                    hint=f"It takes: {name}{_signature(provider)}",
                ) from None
    _SAMPLES[key] = tuple(samples)
    return samples


def check_faker(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:
    """Everything that can be wrong with a faker rule, found before any row moves."""
    samples = sample_outputs(spec, column)
    name = spec.provider
    sample = samples[0]
    if spec.unique and not isinstance(sample, str):
        raise spec_error(
            spec,
            column,
            f"unique: true needs a provider that returns text; {name!r} returns "
            f"{type(sample).__name__} ({sample!r})",
            hint="Drop unique, or pick a text provider (email, user_name, uuid4, ...).",
        )
    check_unique_room(spec, column, col)
    if spec.unique and col is not None:
        # The token makes the output text (a UUID stays a UUID, see unique.py).
        samples = [make_unique(s, bytes(32)) for s in samples]
    check_samples(spec, column, col, samples, f"Faker provider {name!r}")


def _signature(func: Any) -> str:
    try:
        return str(inspect.signature(func))
    except (TypeError, ValueError):
        return "(...)"


RETRIES = 4  # fresh draws tried before trimming a fake that is too long for its column


MIN_POOL = 8  # distinct outputs in PROBES draws a provider needs to be re-drawn
PROBES = 64


def _draw_of(spec: MaskSpec, secret: bytes, locale: str, name: str) -> Any:
    """The provider's compiled draw (:mod:`pools`: exact, every output reachable),
    else its lazy pool of real outputs (:mod:`slots`)."""
    draw = pools.fast_provider(locale, name, spec.args)
    return draw if draw is not None else slots.pool(secret, locale, name, spec.args)


def never_same(spec: MaskSpec) -> bool:
    """Whether the rule's fakes never equal their input (see faker_value_fn): it
    is unique, or its provider has more than a handful of outputs."""
    if spec.unique:
        return True
    locale = _locale_of(spec, None)
    name = _check_provider_name(spec, None, locale)
    return _large_pool(spec, locale, name)


_LARGE_POOL: dict[str, bool] = {}  # rule identity -> whether it has more than a handful
_PROBE_SEED = 0x706F6F6C  # "pool"


def _large_pool(spec: MaskSpec, locale: str, name: str) -> bool:
    """Whether PROBES fixed-seed calls of the provider give MIN_POOL distinct
    outputs: the same answer in every process, on the fast path or not."""
    identity = spec.identity()
    large = _LARGE_POOL.get(identity)
    if large is None:
        generator = _reference_generator(locale)
        provider = getattr(generator, name)
        seen = set()
        with _CHECK_LOCK:
            for i in range(PROBES):
                generator.seed_instance(_PROBE_SEED + i)
                seen.add(str(provider(**spec.args)))
        large = _LARGE_POOL[identity] = len(seen) >= MIN_POOL
    return large


def faker_value_fn(
    spec: MaskSpec,
    secret: bytes,
    col: ColumnType | None = None,
    *,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> ValueFn:
    """One value in, its fake out. Not thread-safe (its cache): compile one per
    worker thread."""
    locale = _locale_of(spec, None)
    name = _check_provider_name(spec, None, locale)
    keyed = KeyedHash(secret, spec.identity())
    unique = spec.unique
    max_length = col.max_length if col is not None else None
    draw = _draw_of(spec, secret, locale, name)
    draw_one = draw.draw

    def fake_from(digest: bytes) -> Any:
        return draw_one(bits_of(digest))[0]

    def finish(out: Any, digest: bytes) -> Any:
        if unique:
            if not isinstance(out, str):
                raise UsageError(
                    f"{spec.location}: unique: true needs a provider that returns text; "
                    f"{name!r} returned {type(out).__name__}"
                )
            return make_unique(out, digest)
        return out

    def fake(digest: bytes, token: bytes) -> Any:
        """The fake drawn with ``digest``; a unique token always comes from
        ``token``, the input's own digest, so it stays unique whatever is drawn."""
        raw = fake_from(digest)
        out = finish(raw, token)
        if max_length is None or len(out if isinstance(out, str) else str(out)) <= max_length:
            return out
        # Too long for varchar(n): draw again (a realistic shorter fake), then trim.
        # With unique, the token takes most of the room: one more draw, then trim.
        for attempt in range(1, 2 if unique else RETRIES + 1):
            raw = fake_from(derive(digest, attempt))
            out = finish(raw, token)
            if len(out if isinstance(out, str) else str(out)) <= max_length:
                return out
        raw = raw if isinstance(raw, str) else str(raw)
        return make_unique(raw, token, max_length) if unique else fit_text(raw, max_length)

    # A provider with a handful of outputs ({random_element: [M, F]}, prefix) is
    # not re-drawn: "anything but the input" would tell the input.
    redraws = REDRAWS if unique or _large_pool(spec, locale, name) else 0

    def fake_of(value: Any, digest: bytes) -> Any:
        """Never the input itself (see base.same_as_source): a fake equal to it is
        drawn again from another digest of the same input, so it stays
        deterministic. _fastdraw.c hands such values here."""
        out = fake(digest, digest)
        for attempt in range(1, redraws + 1):
            if not same_as_source(out, value):
                break
            out = fake(derive(digest, REDRAW_BASE + attempt), digest)
        return out

    half = max(cache_size // 2, 0)
    # Two generations of cache: a cheap LRU approximation with O(1) eviction.
    # Keys are 32-byte digests, never the (possibly large) inputs.
    recent: dict[bytes, Any] = {}
    older: dict[bytes, Any] = {}

    def mask_one(value: Any) -> Any:
        nonlocal recent, older
        digest = keyed(canonical_bytes(value))
        out = recent.get(digest, _MISS)
        if out is _MISS:
            out = older.get(digest, _MISS)
            if out is _MISS:
                out = fake_of(value, digest)
            if half:
                if len(recent) >= half:
                    older, recent = recent, {}
                recent[digest] = out
        if out.__class__ in slots.MUTABLE:  # a list or mapping: each row its own
            return copy.deepcopy(out)
        return out

    native = native_faker(
        draw,
        rule_key(secret, spec.identity()),
        VALUE_PERSON,
        unique=unique,
        max_length=max_length,
        slow=mask_one,
    )
    return native or mask_one


def compile_faker(
    spec: MaskSpec,
    secret: bytes,
    col: ColumnType | None = None,
    *,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> Masker:
    """A batch masker for one faker rule (see :func:`faker_value_fn`)."""
    return over_batch(faker_value_fn(spec, secret, col, cache_size=cache_size))


def parse(p: SpecParser, rule: RuleSource) -> MaskSpec | None:
    label, value, path = rule.label, rule.value, rule.path
    ok = True
    provider = value["faker"]
    if not isinstance(provider, str) or not provider.strip():
        p.error((*path, "faker"), f"{label}.faker: expected a Faker provider name")
        ok = False
    args = value.get("args", {})
    if not isinstance(args, dict):
        p.error((*path, "args"), f"{label}.args: expected a mapping, e.g. {{days: 30}}")
        ok = False
    locale, unique = p.common_options(rule)
    if not ok or unique is None or locale is BAD:
        return None
    return MaskSpec(
        kind="faker",
        location=rule.location,
        provider=provider,
        args=dict(args),
        locale=locale,
        unique=unique,
    )


def _changes(spec: MaskSpec) -> bool:
    """For verify: :func:`never_same`, False for a bad rule (``check`` reports it)."""
    try:
        return never_same(spec)
    except Exception:
        return False


KIND = Kind(
    "faker",
    check=check_faker,
    parse=parse,
    options=("args", "locale", "unique"),
    value_fn=faker_value_fn,
    changes=_changes,
    fake_locale=True,
)
