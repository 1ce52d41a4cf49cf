"""One table's columns -> findings: the column's name, its type, its sampled
values and the table around it, weighed together.

The order of the evidence, and why:

1. **The type.** A boolean is a flag and a timestamp an event, whatever they
   are called (``email_verified``, ``last_login``); a number cannot hold a
   name or an email, so ``order.user integer`` is a key.
2. **The name's veto.** ``address_id``, ``server_ip``, ``product_name``: the
   name says what the column is about and that it is not a person's value.
   Values of that same kind do not overturn it (a server's IP is an IP).
3. **A strong name** (``email``, ``nachname``, ``dob``) is personal.
4. **The values** alone: mostly emails, phones, IPs, Luhn-valid cards, IBANs,
   names from Faker's lists, street addresses, salutations; free text with
   emails or phones inside; JSON with personal keys.
5. **A weak name** (``name``, ``notes``, ``picture``, ``homepage``,
   ``extension``, ``company``) is personal only in a table about people: one
   whose name says so (``customers``) or that holds a strong personal column.
   A company name is personal when the same row names a contact person, or
   when its values carry people's names ("Antonio Moreno Taquería").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from datacloner.core.catalog import Column, QualifiedName, Table, display_name
from datacloner.masking.columns import family
from datacloner.scan.frameworks import SESSION_TABLES, framework_of, framework_reason
from datacloner.scan.names import NameMatch, is_person_table, match_column, tokens
from datacloner.scan.suggest import Rule, suggest
from datacloner.scan.values import SCRUB_KINDS, ValueProfile, profile_values

# Kinds that make a table one about people (for weak names in it).
PERSON_KINDS = frozenset(
    {"email", "phone", "first_name", "last_name", "middle_name", "name", "birth_date",
     "national_id", "username", "address", "postcode", "ip", "credit_card", "iban"}
)  # fmt: skip
NAME_KINDS = frozenset({"first_name", "last_name", "middle_name", "name"})
# Kinds a number can hold; every other kind needs text.
_NUMBER_KINDS = frozenset(
    {"phone", "national_id", "credit_card", "iban", "postcode", "age", "birth_date", "geo",
     "salary", "sensitive", "gender"}
)  # fmt: skip
_DATE_KINDS = frozenset({"birth_date"})
_NOT_VALUES = frozenset({"bool", "int", "numeric", "uuid", "bytes", "tsvector", "time", "mac"})
# Whole-value kinds and the share of sampled values that makes a column that kind.
_VALUE_THRESHOLDS: tuple[tuple[str, float], ...] = (
    ("email", 0.5),  # fewer, but at least one: a scrub of the emails (_some_emails)
    ("credit_card", 0.6),
    ("iban", 0.6),
    ("ip", 0.6),
    ("phone", 0.6),
    ("address", 0.5),
    ("salutation", 0.8),
)
SOME_EMAILS = "some_emails"  # a column of other values, some of them emails
_NAME_THRESHOLD = 0.6  # of distinct values, with at least _MIN_DISTINCT of them
_MIN_DISTINCT = 5
_TEXT_NAMES_THRESHOLD = 0.3  # prose values naming a person
_SAMPLE_LIMIT_NOTE = "no values sampled"


@dataclass
class Finding:
    """What scan concluded about one column. ``reasons`` name the evidence,
    never a value; ``examples`` hold a few sampled values for ``--show-values``."""

    schema: str
    table_name: str
    column: str
    type: str
    personal: bool
    kind: str | None
    confidence: float
    reasons: list[str]
    rule: Rule = None  # the suggested mask rule, when personal
    note: str = ""  # why this rule (its fit), for the rules file comment
    covers: tuple[QualifiedName, ...] = ()  # the tables whose rows it describes
    sampled: int = 0  # non-empty values looked at
    examples: list[str] = field(default_factory=list, repr=False)

    @property
    def qualified(self) -> QualifiedName:
        return (self.schema, self.table_name)

    @property
    def table(self) -> str:
        return display_name(self.qualified)

    def to_dict(self, show_values: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "table": self.table,
            "schema": self.schema,
            "table_name": self.table_name,
            "column": self.column,
            "type": self.type,
            "personal": self.personal,
            "kind": self.kind,
            "confidence": round(self.confidence, 2),
            "reasons": list(self.reasons),
            "sampled": self.sampled,
            "suggested": {"mask": self.rule} if self.personal else "keep",
        }
        if show_values:
            out["examples"] = list(self.examples)
        return out


@dataclass
class _Evidence:
    column: Column
    family: str
    match: NameMatch | None
    profile: ValueProfile | None
    kind: str | None = None
    personal: bool = False
    confidence: float = 0.8
    reasons: list[str] = field(default_factory=list)
    weak: bool = False  # decided by the table's context in the second pass
    json_rules: dict[str, Rule] = field(default_factory=dict)
    json_kinds: set[str] = field(default_factory=set)  # kinds of the json rule's paths
    scrub: list[str] = field(default_factory=list)
    user_fields: list[str] = field(default_factory=list)  # JSON "value" paths of label/value pairs


def _pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"


def _value_kind(profile: ValueProfile) -> tuple[str, str] | None:
    """The kind the values show on their own, with the reason, or None."""
    n = profile.values
    if not n:
        return None
    for kind, threshold in _VALUE_THRESHOLDS:
        hits = profile.kinds[kind]
        if kind == "phone" and hits and profile.kinds["barcode"] >= 0.9 * hits:
            # bare digits, nearly all with a valid GTIN check digit (a phone has one
            # by chance in ten): product barcodes, not phones
            continue
        if hits and hits / n >= threshold:
            return kind, f"values: {_pct(hits, n)} of {n} sampled are {_KIND_WORDS[kind]}"
    if profile.kinds["email"]:  # one person's email is enough to make the column personal
        hits = profile.kinds["email"]
        return SOME_EMAILS, (
            f"values: {_pct(hits, n)} of {n} sampled are emails (one is enough; "
            "a scrub replaces them and leaves the other values)"
        )
    if profile.distinct >= _MIN_DISTINCT:
        ratios = {k: profile.ratio(k, distinct=True) for k in ("name", "first_name", "last_name")}
        # a full name beats its parts; a first name beats a last name on a tie
        full = ratios["name"]
        either = max(ratios["first_name"], ratios["last_name"])
        if full >= 0.5:
            share = _pct(round(full * profile.distinct), profile.distinct)
            return "name", (
                f"values: {share} of {profile.distinct} distinct sampled are full names "
                "(Faker's name lists)"
            )
        if either >= _NAME_THRESHOLD:
            kind = "first_name" if ratios["first_name"] >= ratios["last_name"] else "last_name"
            share = _pct(round(either * profile.distinct), profile.distinct)
            return kind, (
                f"values: {share} of {profile.distinct} distinct sampled are in Faker's "
                f"{kind.replace('_', ' ')} lists"
            )
    return None


_KIND_WORDS = {
    "email": "emails",
    "credit_card": "card numbers (Luhn-valid)",
    "iban": "IBANs (mod-97 valid)",
    "ip": "IP addresses",
    "phone": "phone numbers",
    "address": "street addresses",
    "salutation": "salutations (Mr., Ms., Dr. ...)",
}


def _free_text(ev: _Evidence) -> tuple[str, str] | None:
    """Prose with emails/phones inside (a scrub), or naming people (replace)."""
    profile = ev.profile
    if profile is None or not profile.values:
        return None
    found = [k for k in SCRUB_KINDS if profile.contains[k]]
    named = bool(profile.prose) and (
        profile.names_in_text / profile.values >= _TEXT_NAMES_THRESHOLD
    )
    if found:
        # names in it too: a scrub would leave them, so the whole text is replaced
        ev.scrub = [] if named else found
        hits = sum(profile.contains[k] for k in found)
        also = "; it names people too, so the whole text is replaced" if named else ""
        return "free_text", (
            f"values: free text containing {', '.join(found)} ({hits} of {profile.values} "
            f"sampled){also}"
        )
    if named and profile.prose / profile.values >= 0.5:
        return "free_text", (
            f"values: free text naming people ({_pct(profile.names_in_text, profile.values)} "
            "of sampled values contain a first name)"
        )
    return None


def _json_keys(ev: _Evidence, is_sqlite: bool) -> list[str]:
    """Personal paths inside JSON values, with a rule for each (ev.json_rules)."""
    profile = ev.profile
    if profile is None:
        return []
    found = []
    for path, key in profile.json_keys.items():
        words = [part for part in path.split(".") if part != "*"]
        match = match_column("_".join(words)) if words else None
        kind = None
        if match is not None and match.personal and match.strong:
            kind = match.kind
        elif key.count:
            for value_kind, threshold in _VALUE_THRESHOLDS:
                if key.kinds[value_kind] / key.count >= threshold:
                    kind = value_kind
                    break
            else:
                if match is not None and match.personal and key.kinds["name"] / key.count >= 0.5:
                    kind = match.kind  # a weak key ("name") holding names
        if kind is None:
            continue
        text = Column(name=path.rsplit(".", 1)[-1], type="text")
        rule = suggest(kind, text, "text", None, tokens=tokens(path), is_sqlite=is_sqlite)
        ev.json_rules[path] = rule.rule
        ev.json_kinds.add(kind)
        found.append(f"{path} ({kind})")
    return found


def _json_stray(ev: _Evidence) -> list[str]:
    """Emails/phones in JSON keys, or in values under paths no json rule masks."""
    profile = ev.profile
    if profile is None:
        return []
    found = set(profile.json_key_kinds)
    for path, key in profile.json_keys.items():
        if path not in ev.json_rules:
            found.update(kind for kind, hits in key.contains.items() if hits)
    return [kind for kind in ("email", "phone") if kind in found]


_LABEL_KEYS = ("name", "label", "key", "title", "field")


def _user_fields(profile: ValueProfile | None) -> list[str]:
    """Paths of user-defined fields: arrays of {"name": "Website", "value": ...}
    pairs (profile fields, custom attributes). The labels are the application's,
    the values whatever the person typed: personal in a table of people."""
    if profile is None:
        return []
    found = []
    for path, key in profile.json_keys.items():
        parent, _, leaf = path.rpartition(".")
        if leaf != "value" or not parent.endswith("*") or not key.count:
            continue
        if any(f"{parent}.{label}" in profile.json_keys for label in _LABEL_KEYS):
            found.append(path)
    return found


def _first_pass(ev: _Evidence, is_sqlite: bool) -> None:
    """Everything but the table's context."""
    match, fam, profile = ev.match, ev.family, ev.profile
    name_kind = match.kind if match else None
    values = _value_kind(profile) if profile and fam not in _NOT_VALUES else None
    if fam == "bool":
        ev.reasons.append("a true/false flag")
        return
    if fam == "tsvector":
        ev.reasons.append("a search vector, derived from other columns")
        return
    if fam == "json":
        keys = _json_keys(ev, is_sqlite)
        if keys:
            ev.personal, ev.kind, ev.confidence = True, "json", 0.85
            ev.reasons.append(f"JSON keys: {', '.join(keys)}")
        stray = _json_stray(ev)
        if stray and ev.json_kinds <= set(stray) | {"email", "phone"}:
            # a scrub finds these under the personal keys too, and in keys
            stray = sorted(set(stray) | ev.json_kinds, key=("email", "phone").index)
            keys, ev.json_rules = [], {}
            ev.personal = False
        if stray and not keys:
            # emails/phones as keys or inside values: scrubbed wherever they are
            ev.personal, ev.kind, ev.confidence = True, "free_text", 0.85
            ev.scrub = stray
            ev.reasons.append(f"JSON: {', '.join(stray)} inside keys or values (a scrub)")
        elif stray:
            ev.reasons.append(
                f"JSON: also {', '.join(stray)} under other keys: review the json rule"
            )
        if match is not None and match.personal and match.strong and not keys and not stray:
            ev.personal, ev.kind, ev.confidence = True, "json", 0.6
            ev.reasons.append(f"column name: '{match.phrase}' ({match.kind}), stored as JSON")
        if not ev.personal:
            ev.user_fields = _user_fields(profile)
            n = profile.values if profile else 0
            if not ev.user_fields:
                ev.reasons.append(f"no personal keys in {n} sampled JSON values")
        return
    if match is not None and match.personal and name_kind:
        type_ok = (
            fam in ("text", "other", "json", "inet", "mac", "bytes")
            or (fam in ("int", "numeric") and name_kind in _NUMBER_KINDS)
            or (fam in ("date", "timestamp") and name_kind in _DATE_KINDS)
            or (fam == "uuid" and name_kind == "device_id")
        )
        if fam == "bytes" and name_kind not in ("photo", "password", "sensitive", "free_text"):
            type_ok = False
        if fam in ("date", "timestamp") and name_kind not in _DATE_KINDS:
            type_ok = False
        if not type_ok:
            ev.reasons.append(
                f"column name says '{match.phrase}', but type {fam} cannot hold a {name_kind}"
            )
            return
    if match is not None and not match.personal:
        ev.reasons.append(f"column name: {match.veto}")
        if values and values[0] != name_kind and values[0] in PERSON_KINDS:
            ev.personal, ev.kind, ev.confidence = True, values[0], 0.7
            ev.reasons.append(values[1])
        elif values:
            ev.reasons.append(f"{values[1]}, but the name says what they are for")
        return
    text_signal = _free_text(ev) if fam in ("text", "other") and not values else None
    if match is not None and match.strong:
        ev.personal, ev.kind, ev.confidence = True, match.kind, 0.8
        ev.reasons.append(f"column name: '{match.phrase}' ({match.kind})")
        if values and (values[0] == match.kind or {values[0], match.kind} <= NAME_KINDS):
            ev.confidence = 0.95
            ev.reasons.append(values[1])
        elif values:
            ev.reasons.append(values[1])
        elif match.kind == "birth_date" and profile and profile.dates:
            plausible = profile.birth_plausible / profile.dates
            ev.reasons.append(
                f"values: {_pct(profile.birth_plausible, profile.dates)} plausible birth dates"
            )
            ev.confidence = 0.95 if plausible >= 0.8 else 0.7
        if text_signal and match.kind == "free_text":
            ev.reasons.append(text_signal[1])
        return
    if values:
        ev.personal, ev.kind = True, values[0]
        ev.confidence = 0.85
        if values[0] == SOME_EMAILS:
            ev.kind, ev.scrub, ev.confidence = "free_text", ["email"], 0.75
        ev.reasons.append(values[1])
        if match is not None:
            ev.reasons.append(f"column name: '{match.phrase}' ({match.kind}, weak alone)")
        return
    if text_signal:
        ev.personal, ev.kind, ev.confidence = True, text_signal[0], 0.8
        ev.reasons.append(text_signal[1])
        return
    if match is not None:  # weak: the table decides
        ev.weak = True
        ev.kind = match.kind
        return
    if profile is not None and profile.values:
        ev.reasons.append(f"no personal pattern in {profile.values} sampled values")
    elif profile is not None:
        ev.reasons.append("no personal word in the name; no values to sample")
    else:
        ev.reasons.append(f"no personal word in the name; type {fam}")


_SESSION_COLUMNS = {
    "session_key": "a session key: a live login for whoever holds it, here and in production",
    "session_data": "session data: the signed user id and whatever the application stored",
}
_QUASI = (
    "a quasi-identifier: with a birth date, a gender or a postcode it narrows a row "
    "down to one person"
)


def _quasi(ev: _Evidence, said: str, person_table: str | None, address: str | None) -> None:
    """City and state/region: reference data in a table of places, personal
    (a quasi-identifier) beside a person or a street address."""
    profile = ev.profile
    if ev.kind == "region" and profile and profile.values:
        # "pending", "shipped": a state machine's state, not a region's name
        upper = profile.capitalized / profile.values
        if upper < 0.8:
            ev.reasons += [said, f"values: {_pct(profile.capitalized, profile.values)} "
                           "capitalised: statuses, not places"]  # fmt: skip
            return
    context = person_table or (f"beside an address ({address})" if address else None)
    if context is None:
        ev.reasons += [said, "the table holds no person and no street address: reference data"]
        return
    ev.personal, ev.confidence = True, 0.6
    ev.reasons += [said, f"{_QUASI} ({context})"]


# Generic nouns: a bare `name`, `url` or `description` is the row's own, so only
# a table whose name says its rows are people makes it a person's
# (preview_cards.url is the page's, though the card holds an author_name).
_GENERIC = frozenset(
    {"name", "naam", "nom", "nome", "display name", "displayname", "url", "description"}
)


def _second_pass(
    ev: _Evidence,
    person_table: str | None,
    has_person_name: bool,
    address: str | None = None,
    by_name: str | None = None,
) -> None:
    """Weak names, decided by the table around them."""
    match, profile = ev.match, ev.profile
    assert match is not None
    kind = match.kind
    if match.phrase in _GENERIC:
        person_table = by_name
    n = profile.values if profile else 0
    said = f"column name: '{match.phrase}' ({kind})"
    if kind in ("city", "region"):
        _quasi(ev, said, person_table, address)
        return
    if kind == "company":
        people = profile.person_words if profile else 0
        if has_person_name:
            ev.personal, ev.confidence = True, 0.6
            ev.reasons += [said, "the same rows name a contact person: often a sole trader"]
        elif n and people >= 3 and people / n >= 0.15:
            ev.personal, ev.confidence = True, 0.6
            ev.reasons += [
                said,
                f"values: {_pct(people, n)} of sampled names contain a person's name",
            ]
        else:
            ev.reasons += [said, "company names, no contact person in the table"]
        return
    if kind == "name" and not person_table:
        distinct = profile.distinct if profile else 0
        named = (
            profile.distinct_kinds["name"] + profile.distinct_kinds["first_name"] if profile else 0
        )
        if distinct >= _MIN_DISTINCT and named / distinct >= 0.5:
            ev.personal, ev.confidence = True, 0.7
            ev.reasons += [said, f"values: {_pct(named, distinct)} of distinct values are names"]
        else:
            ev.reasons += [said, "the table is not about people, nor are its values names"]
        return
    if kind == "free_text" and person_table and n and not (profile and profile.prose):
        ev.reasons += [
            said,
            f"in a table about people, but no sampled value is prose ({n} sampled)",
        ]
        return
    if person_table:
        ev.personal, ev.confidence = True, 0.6
        ev.reasons += [said, f"in a table about people ({person_table})"]
    else:
        ev.reasons += [said, "the table is not about people"]


_BIO = "description"  # a user's description is a bio; a product's is not
# Who made or owns the row: a person's name, but the row is not about them
# (repository.owner_name, release.original_author, preview_cards.author_name).
_ATTRIBUTION = frozenset({"author", "author name", "owner name"})


def _user_fields_pass(ev: _Evidence, by_name: str | None, is_sqlite: bool) -> None:
    paths = ", ".join(ev.user_fields)
    if by_name is None:
        ev.reasons.append(f"JSON label/value pairs ({paths}), but the table is not about people")
        return
    text = Column(name="value", type="text")
    for path in ev.user_fields:
        rule = suggest("free_text", text, "text", None, tokens=["value"], is_sqlite=is_sqlite)
        ev.json_rules[path] = rule.rule
    ev.personal, ev.kind, ev.confidence = True, "json", 0.6
    ev.reasons.append(
        f"JSON label/value pairs ({paths}): fields a person filled in, in a table about "
        f"people ({by_name})"
    )


def classify_table(
    table: Table,
    sampled: Mapping[str, list[Any]],
    covers: tuple[QualifiedName, ...],
    is_sqlite: bool = False,
) -> list[Finding]:
    """Findings for every copied column of ``table``; ``sampled`` holds the
    values read for some of its columns."""
    if framework_of(table.name):
        why = framework_reason(table.name)
        return [
            Finding(table.schema, table.name, c.name, c.type or family(c), False, None, 1.0,
                    [why], covers=covers)
            for c in table.copied_columns
        ]  # fmt: skip
    evidence: list[_Evidence] = []
    for column in table.copied_columns:
        values = sampled.get(column.name)
        fam = family(column, values or ())
        profile = profile_values(values, fam) if values is not None else None
        ev = _Evidence(column, fam, match_column(column.name), profile)
        if table.name.lower() in SESSION_TABLES and column.name in _SESSION_COLUMNS:
            ev.personal, ev.kind, ev.confidence = True, "session", 0.9
            ev.reasons.append(_SESSION_COLUMNS[column.name])
        else:
            _first_pass(ev, is_sqlite)
            if ev.match is None and not ev.personal and tokens(column.name) == [_BIO]:
                # says nothing alone; in a table of people it is their bio
                ev.match = NameMatch("free_text", False, _BIO)
                ev.weak, ev.kind = True, "free_text"
                ev.reasons.clear()
        evidence.append(ev)
    strong = [
        e
        for e in evidence
        if e.personal
        and e.kind in PERSON_KINDS
        and not (e.match and e.match.phrase in _ATTRIBUTION and e.kind == "name")
    ]
    by_name = f"table name '{table.name}'" if is_person_table(table.name) else None
    person_table = by_name or (
        f"it holds {strong[0].column.name} ({strong[0].kind})" if strong else None
    )
    has_person_name = any(e.personal and e.kind in NAME_KINDS for e in evidence)
    address = next(
        (e.column.name for e in evidence if e.personal and e.kind in ("address", "postcode")),
        None,
    )
    for ev in evidence:
        if ev.weak:
            _second_pass(ev, person_table, has_person_name, address, by_name)
        elif ev.user_fields:
            _user_fields_pass(ev, by_name, is_sqlite)
    return [_finding(table, ev, covers, is_sqlite) for ev in evidence]


def _finding(
    table: Table, ev: _Evidence, covers: tuple[QualifiedName, ...], is_sqlite: bool
) -> Finding:
    column, profile = ev.column, ev.profile
    finding = Finding(
        schema=table.schema,
        table_name=table.name,
        column=column.name,
        type=column.type or ev.family,
        personal=ev.personal,
        kind=ev.kind if ev.personal else None,
        confidence=ev.confidence,
        reasons=ev.reasons,
        covers=covers,
        sampled=profile.values if profile else 0,
        examples=list(profile.examples) if profile else [],
    )
    if ev.personal and ev.kind:
        pick = suggest(
            ev.kind,
            column,
            ev.family,
            profile,
            tokens=tokens(column.name),
            json_rules=ev.json_rules,
            scrub_kinds=ev.scrub,
            is_sqlite=is_sqlite,
        )
        finding.rule, finding.note = pick.rule, pick.note
    return finding
