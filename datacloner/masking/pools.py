"""Fast Faker fakes: Faker's own data and formats, drawn with keyed-hash bits.

Calling Faker once per value costs 40-400 µs (its weighted choice rebuilds
its tables on every call) plus ~10 µs to seed it. Here a provider is instead
compiled once per (locale, provider) into a small tree of *draws*:

- :class:`Pick`: one of Faker's own lists (``first_names``, ``formats`` ...),
  with Faker's weights when the list has them: exact distribution, every
  entry reachable, no pool to cap the number of distinct outputs;
- :class:`Seq`: a Faker format (``"{{first_name}} {{last_name}}"``), each
  ``{{token}}`` compiled the same way, recursively;
- :class:`Digits`: ``numerify``/``bothify`` templates (``"###-###-####"``);
- :class:`Pool`: the fallback for a token without a recipe: N outputs of the
  real Faker call, built once with a fixed seed.

A draw takes a big integer (bits of the keyed digest) and consumes what it
needs with ``divmod``, so composite values use independent bits for every
part: ``name`` has (first names x last names x formats) outputs, not a pool's
size. Everything is built from fixed seeds, per token, in a fixed order:
the same Faker version gives the same fakes in every process.

Which Faker methods get a recipe is decided by identity with the base class's
method: a locale that overrides ``name()`` with its own logic keeps it (via a
:class:`Pool` of its real outputs for the common providers, else the slow
per-value Faker path).
"""

from __future__ import annotations

import bisect
import functools
import inspect
import re
import string
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from faker import Factory, Generator
from faker.providers import BaseProvider, address, company, internet, person, phone_number
from faker.providers.ssn import en_US as ssn_en_US

from datacloner.masking import slots

POOL_SEED = 0x6461_7461  # "data": fixed, so pools are the same in every process
TOKEN_POOL_SIZE = (
    2048  # outputs of a format token that has no recipe (e.g. en_US secondary_address)
)
PROVIDER_POOL_SIZE = 16384  # a common provider whose locale overrides the base method
_WEIGHT_BITS = 32
_WEIGHT_RESOLUTION = 1 << _WEIGHT_BITS
_WEIGHT_MASK = _WEIGHT_RESOLUTION - 1
# Common providers worth a pool of real outputs when no exact recipe applies
# (their locale implements them its own way, e.g. en_US postcode).
POOLED_PROVIDERS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "street_address",
        "street_name",
        "city",
        "postcode",
        "company",
        "phone_number",
        "email",
        "safe_email",
        "free_email",
        "user_name",
        "address",
        "url",
    }
)
_FAKER_TOKEN = re.compile(r"\{\{\s*(\w+)(:\s*\w+?)?\s*\}\}")  # Faker's own token syntax


class Draw(Protocol):
    def draw(self, n: int) -> tuple[str, int]:
        """A fake from the bits in ``n``, and the bits left over."""
        ...

    def mapped(self, f: Callable[[str], str]) -> Draw:
        """The same draw with ``f`` applied to every piece of text it is built from."""
        ...


class Literal:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def draw(self, n: int) -> tuple[str, int]:
        return self.text, n

    def mapped(self, f: Callable[[str], str]) -> Draw:
        return Literal(f(self.text))


class Pick:
    """One item of a list, uniformly or with Faker's weights (exact, by bisection)."""

    __slots__ = ("items", "thresholds", "texts")

    def __init__(self, items: Sequence[Any], weights: Sequence[float] | None = None) -> None:
        self.items = list(items)
        # Items are text or draws; text is returned as is (the common case, fast).
        self.texts = all(isinstance(i, str) for i in self.items)
        self.thresholds: list[int] | None = None
        if weights is not None and len(set(weights)) > 1:
            total = float(sum(weights))
            running = 0.0
            thresholds = []
            for w in weights:
                running += float(w)
                thresholds.append(int(running / total * _WEIGHT_RESOLUTION))
            thresholds[-1] = _WEIGHT_RESOLUTION
            self.thresholds = thresholds

    def draw(self, n: int) -> tuple[str, int]:
        if self.thresholds is None:
            n, r = divmod(n, len(self.items))
            item = self.items[r]
        else:
            item = self.items[bisect.bisect_right(self.thresholds, n & _WEIGHT_MASK)]
            n >>= _WEIGHT_BITS
        if self.texts:
            return item, n
        return item.draw(n)

    def mapped(self, f: Callable[[str], str]) -> Draw:
        items = [f(i) if isinstance(i, str) else i.mapped(f) for i in self.items]
        copy = Pick(items)
        copy.thresholds = self.thresholds
        return copy


class Seq:
    """Parts drawn one after the other and joined: a compiled Faker format."""

    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[Draw | str]) -> None:
        merged: list[Draw | str] = []
        for part in parts:
            if isinstance(part, Literal):
                part = part.text
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            elif part != "":
                merged.append(part)
        self.parts = merged

    def draw(self, n: int) -> tuple[str, int]:
        out = []
        append = out.append
        for part in self.parts:
            if part.__class__ is str:
                append(part)
            else:
                text, n = part.draw(n)
                append(text)
        return "".join(out), n

    def mapped(self, f: Callable[[str], str]) -> Draw:
        return Seq([f(p) if isinstance(p, str) else p.mapped(f) for p in self.parts])


_PLACEHOLDERS = "#%$!@?"


class Digits:
    """Faker's numerify (``#`` 0-9, ``%`` 1-9, ``$`` 2-9, ``!`` 0-9 or nothing,
    ``@`` 1-9 or nothing) and bothify (``?`` a letter) on a fixed template."""

    __slots__ = ("template", "letters", "parts", "hashes", "fmt")

    def __init__(self, template: str, letters: str = string.ascii_letters) -> None:
        self.template = template
        self.letters = letters
        placeholders = _PLACEHOLDERS if letters else _PLACEHOLDERS[:-1]
        # The common case, only "#": all digits in one divmod, placed by str.format.
        self.hashes = template.count("#")
        simple = not any(c in placeholders for c in template.replace("#", ""))
        self.fmt = (
            template.replace("{", "{{").replace("}", "}}").replace("#", "{}") if simple else None
        )
        parts: list[tuple[str, Any]] = []  # ("lit", text) | ("run", count) | (char, None)
        i = 0
        while i < len(template):
            ch = template[i]
            if ch == "#":
                j = i
                while j < len(template) and template[j] == "#":
                    j += 1
                parts.append(("run", j - i))
                i = j
            elif ch in placeholders:
                parts.append((ch, None))
                i += 1
            else:
                j = i
                while j < len(template) and template[j] not in placeholders:
                    j += 1
                parts.append(("lit", template[i:j]))
                i = j
        self.parts = parts

    def draw(self, n: int) -> tuple[str, int]:
        if self.fmt is not None:
            if not self.hashes:
                return self.template, n
            n, r = divmod(n, 10**self.hashes)
            return self.fmt.format(*f"{r:0{self.hashes}d}"), n
        out = []
        for kind, arg in self.parts:
            if kind == "lit":
                out.append(arg)
            elif kind == "run":
                n, r = divmod(n, 10**arg)
                out.append(f"{r:0{arg}d}")
            elif kind == "%":
                n, r = divmod(n, 9)
                out.append(str(r + 1))
            elif kind == "$":
                n, r = divmod(n, 8)
                out.append(str(r + 2))
            elif kind == "!":
                n, r = divmod(n, 20)
                out.append(str(r - 10) if r >= 10 else "")
            elif kind == "@":
                n, r = divmod(n, 18)
                out.append(str(r - 8) if r >= 9 else "")
            else:  # "?"
                n, r = divmod(n, len(self.letters))
                out.append(self.letters[r])
        return "".join(out), n

    def mapped(self, f: Callable[[str], str]) -> Draw:
        letters = f(self.letters)
        copy = Digits(f(self.template) if self.fmt is not None else self.template, self.letters)
        if self.fmt is None:
            copy.parts = [(k, f(a)) if k == "lit" else (k, a) for k, a in self.parts]
        copy.letters = letters if len(letters) == len(self.letters) else self.letters
        return copy


class Pool(Pick):
    """N real outputs of a Faker call, made once from a fixed seed."""


class Func:
    """A draw computed directly from the bits (IP addresses)."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[int], tuple[str, int]]) -> None:
        self.func = func

    def draw(self, n: int) -> tuple[str, int]:
        return self.func(n)

    def mapped(self, f: Callable[[str], str]) -> Draw:
        func = self.func
        return Func(lambda n: (lambda r: (f(r[0]), r[1]))(func(n)))


# --- IP addresses: Faker draws them from integers too, so do it directly ---------------------

# First octets of unicast, non-private, non-loopback IPv4 (Faker avoids the same ranges).
_IPV4_FIRST = [o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192, 198, 203)]


def _ipv4(n: int) -> tuple[str, int]:
    n, first = divmod(n, len(_IPV4_FIRST))
    n, rest = divmod(n, 1 << 24)
    return f"{_IPV4_FIRST[first]}.{rest >> 16}.{(rest >> 8) & 255}.{rest & 255}", n


def _ipv6(n: int) -> tuple[str, int]:
    import ipaddress

    n, r = divmod(n, (1 << 128) - (1 << 32))
    return str(ipaddress.IPv6Address(r + (1 << 32))), n  # Faker: randint(2**32, 2**128 - 1)


def _ssn_en_us(b: _Builder, inst: Any) -> Draw:
    # Faker: area randint(1, 899) with 666 made 667, group randint(1, 99), serial randint(1, 9999).
    areas = [f"{667 if a == 666 else a:03d}" for a in range(1, 900)]
    groups = [f"{g:02d}" for g in range(1, 100)]
    serials = [f"{s:04d}" for s in range(1, 10_000)]
    return Seq([Pick(areas), "-", Pick(groups), "-", Pick(serials)])


# --- recipes: Faker methods whose base implementation we know -------------------------------

Recipe = Callable[["_Builder", Any], Draw | None]


def _parsed(attr: str) -> Recipe:
    """``self.generator.parse(self.random_element(self.<attr>))``"""
    return lambda b, inst: b.choice(getattr(inst, attr, None), b.parse)


def _numerified(attr: str, letters: str = "", upper: bool = False) -> Recipe:
    """``numerify(random_element(self.<attr>))``, or bothify(...).upper()."""

    def make(b: _Builder, inst: Any) -> Draw | None:
        def compile_(template: str) -> Draw:
            digits = Digits(template, letters)
            return digits.mapped(str.upper) if upper else digits

        return b.choice(getattr(inst, attr, None), compile_)

    return make


def _user_name(b: _Builder, inst: Any) -> Draw | None:
    # Faker: _to_ascii(bothify(parse(random_element(user_name_formats))).lower()).
    # Lowering and transliterating each piece once at build time is the same
    # thing, character by character, and keeps the per-value work to joins.
    def compile_(fmt: str) -> Draw:
        return b.parse(fmt, placeholders=True).mapped(lambda s: inst._to_ascii(s.lower()))

    return b.choice(getattr(inst, "user_name_formats", None), compile_)


def _email_at(domain_method: str) -> Recipe:
    def make(b: _Builder, inst: Any) -> Draw | None:
        user = _user_name(b, inst)
        if user is None:
            return None
        domain = b.token(domain_method).mapped(str.lower)
        return Seq([user, "@", domain]).mapped(str.lower)

    return make


def _url(b: _Builder, inst: Any) -> Draw | None:
    formats = b.choice(getattr(inst, "url_formats", None), b.parse)
    if formats is None:
        return None
    return Seq([Pick(["http", "https"]), "://", formats])


RECIPES: dict[tuple[type, str], Recipe] = {
    (person.Provider, "name"): _parsed("formats"),
    (address.Provider, "street_address"): _parsed("street_address_formats"),
    (address.Provider, "street_name"): _parsed("street_name_formats"),
    (address.Provider, "city"): _parsed("city_formats"),
    (address.Provider, "address"): _parsed("address_formats"),
    (address.Provider, "building_number"): _numerified("building_number_formats"),
    (address.Provider, "postcode"): _numerified(
        "postcode_formats", string.ascii_letters, upper=True
    ),
    (company.Provider, "company"): _parsed("formats"),
    (phone_number.Provider, "phone_number"): _numerified("formats"),
    (internet.Provider, "user_name"): _user_name,
    (internet.Provider, "email"): _email_at("safe_domain_name"),
    (internet.Provider, "safe_email"): _email_at("safe_domain_name"),
    (internet.Provider, "free_email"): _email_at("free_email_domain"),
    (internet.Provider, "ipv4"): lambda b, inst: Func(_ipv4),
    # _ipv4 only draws from public /8s, as ipv4_public's networks are.
    (internet.Provider, "ipv4_public"): lambda b, inst: Func(_ipv4),
    (internet.Provider, "ipv6"): lambda b, inst: Func(_ipv6),
    (internet.Provider, "url"): _url,
    (ssn_en_US.Provider, "ssn"): _ssn_en_us,
}


def _template_draw(generator: Generator, name: str, args: Mapping[str, Any]) -> Draw | None:
    """``numerify``, ``bothify`` and ``lexify`` on a fixed ``text``: a :class:`Digits`
    (exact, every output reachable), when the locale keeps Faker's own method."""
    if name not in _TEMPLATES:
        return None
    text = args.get("text")
    letters = args.get("letters", string.ascii_letters)
    allowed = {"text"} if name == "numerify" else {"text", "letters"}
    if not isinstance(text, str) or set(args) - allowed:
        return None
    inst = getattr(getattr(generator, name, None), "__self__", None)
    if getattr(type(inst), name, None) is not getattr(BaseProvider, name):
        return None
    if name == "numerify":
        return Digits(text, "")  # "?" stays as it is
    if not isinstance(letters, str) or not letters or any(c in _PLACEHOLDERS for c in letters):
        return None
    if name == "lexify" and any(c in _PLACEHOLDERS[:-1] for c in text):
        return None  # lexify leaves "#" as it is; Digits would not
    return Digits(text, letters)


def _stable_seed(name: str) -> int:
    # Not hash(): that is salted per process.
    return POOL_SEED ^ zlib.crc32(name.encode("utf-8"))


class _Builder:
    """Compiles the draws of one locale. Each pool is built from its own fixed
    seed, so the result does not depend on which providers were built first."""

    def __init__(self, locale: str) -> None:
        self.generator: Generator = Factory.create(locale)
        self.generator.seed_instance(POOL_SEED)
        self.tokens: dict[str, Draw] = {}
        self.building: set[str] = set()

    # -- top level --

    def provider(self, name: str) -> Draw | None:
        """An exact recipe for ``name``, else a pool for a common provider, else None."""
        if not callable(getattr(self.generator, name, None)):
            return None
        self.building.add(name)
        try:
            draw = self.recipe(name)
        finally:
            self.building.discard(name)
        if draw is None and name in POOLED_PROVIDERS:
            draw = self.pool(name, PROVIDER_POOL_SIZE)
        return draw

    # -- pieces --

    def token(self, name: str, group: str | None = None) -> Draw:
        """A ``{{token}}`` inside a format: a recipe when there is one, else a pool."""
        key = f"{name}:{group}" if group else name
        if key in self.tokens:
            return self.tokens[key]
        draw = None
        if group is None and name not in self.building:
            self.building.add(name)  # formats that refer to themselves get a pool
            try:
                draw = self.recipe(name)
            finally:
                self.building.discard(name)
        if draw is None:
            text = "".join(("{{", name, f":{group}" if group else "", "}}"))
            draw = self.pool(key, TOKEN_POOL_SIZE, lambda: self.generator.parse(text))
        self.tokens[key] = draw
        return draw

    def recipe(self, name: str) -> Draw | None:
        bound = getattr(self.generator, name, None)
        inst = getattr(bound, "__self__", None)
        if inst is None:
            return None
        func = getattr(type(inst), name, None)
        for (base, method), make in RECIPES.items():
            if method == name and func is getattr(base, method, None):
                return make(self, inst)
        return self.elements(inst, name)

    def elements(self, inst: Any, name: str) -> Draw | None:
        """``return self.random_element(self.<list>)``: found by calling the method
        with ``random_element`` intercepted, under several seeds (a method that
        picks among lists at random must always pick the same one)."""
        seen: list[Any] = []

        def intercept(elements: Any = ("a", "b", "c")) -> Any:
            seen.append(elements)
            return next(iter(elements))

        inst.random_element = intercept  # shadows the class method on this instance only
        try:
            for probe in range(6):
                self.generator.seed_instance(_stable_seed(f"probe:{name}:{probe}"))
                before = len(seen)
                try:
                    out = getattr(type(inst), name)(inst)
                except Exception:
                    return None
                if len(seen) != before + 1 or seen[-1] != seen[0]:
                    return None
                first = next(iter(seen[0]), None)
                if not isinstance(out, str) or out != first:
                    return None
        finally:
            del inst.random_element
        elements = seen[0]
        if not elements or not all(isinstance(e, str) for e in elements):
            return None
        if isinstance(elements, Mapping) and self._weighting:
            return Pick(list(elements), [float(w) for w in elements.values()])
        return Pick(list(elements))

    # Factory.create's default: Faker's lists with weights are drawn by weight.
    _weighting = True

    def choice(self, elements: Any, compile_: Callable[[str], Draw]) -> Draw | None:
        """One of Faker's format lists (weighted when it is a mapping), each compiled."""
        if not elements or isinstance(elements, str):
            return None
        if not all(isinstance(e, str) for e in elements):
            return None
        items = [compile_(e) for e in elements]
        if isinstance(elements, Mapping) and self._weighting:
            return Pick(items, [float(w) for w in elements.values()])
        return Pick(items)

    def parse(self, fmt: str, placeholders: bool = False) -> Draw:
        """A Faker format: literal text and ``{{token}}``s; with ``placeholders``
        the literal text is bothified too (``#`` digits, ``?`` letters)."""
        parts: list[Draw | str] = []
        pos = 0
        for m in _FAKER_TOKEN.finditer(fmt):
            parts.append(self._literal(fmt[pos : m.start()], placeholders))
            group = m.group(2)[1:].strip() if m.group(2) else None
            parts.append(self.token(m.group(1), group))
            pos = m.end()
        parts.append(self._literal(fmt[pos:], placeholders))
        return Seq(parts)

    @staticmethod
    def _literal(text: str, placeholders: bool) -> Draw | str:
        if placeholders and any(c in _PLACEHOLDERS for c in text):
            return Digits(text, string.ascii_letters)
        return text

    def pool(self, key: str, size: int, call: Callable[[], Any] | None = None) -> Draw | None:
        method = call or getattr(self.generator, key)
        self.generator.seed_instance(_stable_seed(f"pool:{key}"))
        try:
            items = [method() for _ in range(size)]
        except Exception:
            return None
        if not all(isinstance(i, str) for i in items):
            return None
        return Pool(items)


_LOCK = threading.Lock()


@functools.cache
def _builder(locale: str) -> _Builder:
    return _Builder(locale)


@functools.cache
def _provider(locale: str, name: str) -> Draw | None:
    return _builder(locale).provider(name)


def fast_provider(locale: str, name: str, args: Mapping[str, Any] | None = None) -> Draw | None:
    """The compiled draw of Faker provider ``name(**args)`` in ``locale``, or
    None when it has no exact compiled form (then :mod:`slots` pools its real
    outputs). Built once per process; thread-safe."""
    with _LOCK:  # building mutates the locale's generator
        if args:
            return _args_draw(locale, name, args)
        draw = _provider(locale, name)
        if draw is None and name in _TEMPLATES:  # their default text
            default = inspect.signature(getattr(BaseProvider, name)).parameters["text"].default
            draw = _template_draw(_builder(locale).generator, name, {"text": default})
        return draw


_TEMPLATES = ("numerify", "bothify", "lexify")


def _args_draw(locale: str, name: str, args: Mapping[str, Any]) -> Draw | None:
    """A compiled draw for a provider called with ``args``: the templates, and
    ``email`` with a ``domain`` (Faker: ``user_name() + "@" + domain``, lowercased)."""
    generator = _builder(locale).generator
    if name in _TEMPLATES:
        return _template_draw(generator, name, args)
    if name != "email" or set(args) - {"safe", "domain"}:
        return None
    inst = getattr(generator.email, "__self__", None)
    if getattr(type(inst), "email", None) is not internet.Provider.email:
        return None
    domain = args.get("domain")
    if not domain:
        return _provider(locale, "email") if args.get("safe", True) else None
    user = _user_name(_builder(locale), inst) if isinstance(domain, str) else None
    return None if user is None else Seq([user, "@", domain]).mapped(str.lower)


def to_native(draw: Any) -> tuple[Any, ...] | None:
    """The draw as the nested tuples the native fast path (``_fastdraw.c``)
    compiles, or None when some part of it has no native form."""
    if isinstance(draw, str):
        return ("lit", draw)
    if isinstance(draw, Literal):
        return ("lit", draw.text)
    if isinstance(draw, Pick):  # and Pool
        items = tuple(to_native(i) for i in draw.items)
        if not items or any(i is None for i in items):
            return None
        return ("pick", items, tuple(draw.thresholds) if draw.thresholds else None)
    if isinstance(draw, Seq):
        parts = tuple(to_native(p) for p in draw.parts)
        return None if any(p is None for p in parts) else ("seq", parts)
    if isinstance(draw, Digits):
        if draw.fmt is not None:
            return ("digits", draw.template, draw.hashes) if draw.hashes <= 64 else None
        return ("digitsx", tuple(draw.parts), draw.letters)
    if isinstance(draw, slots.Slots):
        return ("slots", draw.items, draw.fill, slots.EMPTY, slots.PLAIN)
    if isinstance(draw, Func):
        if draw.func is _ipv4:
            return ("ipv4", tuple(_IPV4_FIRST))
        return ("func", draw.func)
    return None


def bits_of(digest: bytes) -> int:
    """The digest's bits for drawing, without the uniqueness token's bytes (8..18),
    so a fake and its token are independent."""
    return int.from_bytes(digest[:8] + digest[18:], "big")
