"""``datacloner.yml`` in, a validated, typed :class:`Config` out.

Format (docs/configuration.md)::

    source: ${PROD_DATABASE_URL}
    secret: ${DATACLONER_SECRET}
    rules: rules/
    protected: [db.prod.internal]
    environments:
      dev: {url: postgresql://localhost/app_dev}
      staging: {url: ${STAGING_DATABASE_URL}, after: [sql/staging.sql]}

Steps: YAML with line numbers (:mod:`datacloner.core.yamlsource`), then
``${VAR}`` interpolation of string values, then a pydantic model that checks
keys and types. Every problem becomes one ``file:line: key.path: what`` line
of a single UsageError (exit 2), so a user fixes them all in one go.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from datacloner.core import redaction
from datacloner.core.errors import UsageError
from datacloner.core.location import Location
from datacloner.core.subset import SubsetSpec, parse_subset
from datacloner.core.yamlsource import (
    ErrorList,
    NodePath,
    YamlDoc,
    closest,
    parse_yaml,
    read_text,
    unknown_key,
)
from datacloner.engines import registry as engines

CONFIG_FILE = "datacloner.yml"
CONFIG_ENV = "DATACLONER_CONFIG"
SECRET_ENV = "DATACLONER_SECRET"
ON_BUSY = ("terminate", "wait", "fail")
MIN_SECRET_BYTES = 16

_URL_HINT = "a SQLAlchemy URL such as postgresql://host/db or sqlite:///file.db"
_SECRET_HINT = (
    f"Add `secret: ${{{SECRET_ENV}}}` to datacloner.yml and set it before running, e.g. "
    f"`export {SECRET_ENV}=$(openssl rand -hex 32)`. Keep it out of the file and reuse the "
    "same value: it makes the masked values repeat from run to run."
)


@dataclass(frozen=True)
class Environment:
    name: str
    url: str
    after: tuple[Path, ...] = ()  # SQL files run on the copy; relative to the config's folder
    subset: SubsetSpec | None = field(default=None, hash=False)  # docs/subset.md
    on_busy: str = "terminate"  # sessions on the target at swap time: terminate | wait | fail
    keep: int = 1  # previous copies kept for `rollback`
    location: Location = Location(Path(CONFIG_FILE), 0)
    # unset ${VAR}s of this environment: an error only when it is used
    unset: ErrorList | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Config:
    path: Path
    source: str
    # None when not set: only a refresh that masks needs it. Never in repr/logs.
    secret: str | None = field(repr=False)
    rules_path: Path
    protected: tuple[str, ...]
    environments: dict[str, Environment] = field(hash=False)
    # an unset ${VAR} in `source`: an error only for verbs that read the source
    source_unset: ErrorList | None = field(default=None, compare=False, repr=False)
    secret_unset: ErrorList | None = field(default=None, compare=False, repr=False)
    secret_at: Location | None = field(default=None, compare=False, repr=False)  # file:line

    def environment(self, name: str) -> Environment:
        """The environment called ``name``; UsageError naming the closest ones."""
        env = self.environments.get(name)
        if env is not None:
            if env.unset:
                env.unset.raise_if_any()
            return env
        names = list(self.environments)
        guess = closest(name, names)
        message = f"no environment `{name}` in {self.path}"
        if guess:
            message += f"; did you mean `{guess}`?"
        raise UsageError(
            message,
            hint=f"Environments defined there: {', '.join(names)}. "
            "Add one under `environments:` to use another name.",
        )

    def require_source(self) -> str:
        """The source URL, for the verbs that read production (exit 2 if its
        variable is unset)."""
        if self.source_unset:
            self.source_unset.raise_if_any()
        return self.source

    def require_secret(self) -> bytes:
        """The masking key, for the refreshes that need it (exit 2 if unset,
        empty or shorter than 16 bytes: a short key can be guessed, and with it
        every masked value that came from a hash)."""
        if self.secret_unset:
            self.secret_unset.raise_if_any()
        if self.secret is None:
            raise UsageError(
                f"{self.path} has no `secret:`: masking needs a secret key", hint=_SECRET_HINT
            )
        key = self.secret.encode("utf-8")
        if len(key) < MIN_SECRET_BYTES:
            state = "is empty" if not key else f"is too short ({len(key)} bytes)"
            raise UsageError(
                f"{self.secret_at or self.path}: secret: the key {state}; masking needs at "
                f"least {MIN_SECRET_BYTES} bytes",
                hint=f"make a good one: export {SECRET_ENV}=$(openssl rand -hex 32)",
            )
        return key


def find_config(explicit: Path | None) -> Path:
    """``--config PATH``, else ``$DATACLONER_CONFIG``, else ``./datacloner.yml``.
    A folder means the ``datacloner.yml`` inside it."""
    create = (
        f"Create {CONFIG_FILE} (see docs/configuration.md), pass --config PATH, "
        f"or set {CONFIG_ENV}=PATH."
    )
    if explicit is not None:
        where, path = "--config", explicit
    elif os.environ.get(CONFIG_ENV):
        where, path = f"${CONFIG_ENV}", Path(os.environ[CONFIG_ENV])
    else:
        path = Path(CONFIG_FILE)
        if not path.is_file():
            raise UsageError(f"no {CONFIG_FILE} in {Path.cwd()}", hint=create)
        return path
    if path.is_dir():
        path = path / CONFIG_FILE
    if not path.is_file():
        raise UsageError(f"config file {path} (from {where}) not found", hint=create)
    return path


def load_config(path: Path) -> Config:
    """Read, interpolate and validate ``path``; UsageError listing every problem."""
    text, placeholders = _protect_variables(read_text(path))
    doc = parse_yaml(text, path)
    if doc.data is None:
        raise UsageError(
            f"{path}: the file is empty",
            hint="It needs at least `source:`, `rules:` and `environments:`; "
            "see docs/configuration.md.",
        )
    if not isinstance(doc.data, dict):
        raise UsageError(f"{Location(path, doc.line())}: expected a mapping of settings")
    errors = _Deferred()
    data = _interpolate(doc.data, (), doc, errors, placeholders)
    _register_secrets(data)
    errors.raise_if_any()
    try:
        model = _ConfigModel.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            _report(error, doc, errors)
        errors.raise_if_any()
        raise  # pragma: no cover - every error was reported above
    return _build(model, doc, errors)


def _register_secrets(data: dict[Any, Any]) -> None:
    """The secret and each database URL's user and password: never printed
    (redaction.scrub), even when written in the file itself."""
    if isinstance(data.get("secret"), str):
        redaction.register(data["secret"])
    urls = [data.get("source")]
    environments = data.get("environments")
    if isinstance(environments, dict):
        urls += [e.get("url") for e in environments.values() if isinstance(e, dict)]
    for url in urls:
        if isinstance(url, str):
            redaction.register_url(url)


# --- ${VAR} interpolation ------------------------------------------------------

# `$${` is a literal `${`; `${NAME}` or `${NAME:-default}` reads the environment.
_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}?")
_VAR_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


# A whole `${...}` (or escaped `$${...}`) on one line, as written in the file.
_VAR_TEXT = re.compile(r"\$?\$\{[^}\n]*\}")


class _Placeholders:
    """`{url: ${STAGING_DATABASE_URL}}` (a natural spelling users write) is not valid
    YAML: `{` and `}` end a flow mapping. So before parsing, each `${...}` is
    swapped for a token made of letters and digits, which YAML reads as plain
    text anywhere; the tokens are swapped back in the parsed strings. Lines do
    not move, so error lines stay right."""

    def __init__(self) -> None:
        self.prefix = f"dcvar{secrets.token_hex(8)}n"  # random: cannot clash with user text
        self.originals: list[str] = []
        self.pattern = re.compile(re.escape(self.prefix) + r"(\d+)z")

    def protect(self, match: re.Match[str]) -> str:
        self.originals.append(match.group(0))
        return f"{self.prefix}{len(self.originals) - 1}z"

    def restore(self, text: str) -> str:
        return self.pattern.sub(lambda m: self.originals[int(m.group(1))], text)


def _protect_variables(text: str) -> tuple[str, _Placeholders]:
    placeholders = _Placeholders()
    return _VAR_TEXT.sub(placeholders.protect, text), placeholders


def _interpolate(
    value: Any, path: NodePath, doc: YamlDoc, errors: ErrorList, placeholders: _Placeholders
) -> Any:
    """Expand variables in every string value; keys get their text back only."""
    if isinstance(value, dict):
        return {
            placeholders.restore(k): _interpolate(v, (*path, k), doc, errors, placeholders)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), doc, errors, placeholders) for i, v in enumerate(value)]
    if isinstance(value, str):
        if path == ("source",) and isinstance(errors, _Deferred):
            # only verbs that read the source need it: `restore` in CI must not
            before = len(errors.source.lines)
            expanded = _expand(placeholders.restore(value), path, doc, errors.source)
            return _UNSET_URL if len(errors.source.lines) > before else expanded
        if path == ("secret",) and isinstance(errors, _Deferred):
            # only verbs that mask need it
            return _expand(placeholders.restore(value), path, doc, errors.secret)
        if len(path) > 2 and path[0] == "environments" and isinstance(errors, _Deferred):
            # A variable of one environment matters only when that environment is
            # used: `refresh dev` must not need STAGING_DATABASE_URL.
            own = errors.per_env.setdefault(str(path[1]), ErrorList())
            before = len(own.lines)
            expanded = _expand(placeholders.restore(value), path, doc, own)
            if len(own.lines) > before and path[-1] == "url":
                return _UNSET_URL
            return expanded
        return _expand(placeholders.restore(value), path, doc, errors)
    return value


_UNSET_URL = "postgresql://unset.invalid/unset"  # stands in until the environment is used


class _Deferred(ErrorList):
    """Errors now, plus errors of each environment, raised when it is used."""

    def __init__(self) -> None:
        super().__init__()
        self.per_env: dict[str, ErrorList] = {}
        self.source = ErrorList()
        self.secret = ErrorList()


def _expand(text: str, path: NodePath, doc: YamlDoc, errors: ErrorList) -> str:
    label = _dotted(path)

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        if not match.group(0).endswith("}"):
            errors.add(doc.location(path), f"{label}: `${{` without a closing `}}`")
            return ""
        body = _VAR_BODY.fullmatch(match.group(1))
        if body is None:
            errors.add(
                doc.location(path),
                f"{label}: `{match.group(0)}` is not a variable reference; "
                "write ${NAME} or ${NAME:-default} (or $${ for a literal ${)",
            )
            return ""
        name, default = body.group(1), body.group(2)
        # As in the shell's ${NAME:-default}, an empty variable counts as unset:
        # an empty URL or secret is never what was meant.
        current = os.environ.get(name)
        value = current or default
        if value:
            # never printed (redaction.scrub); a variable holding a whole database
            # URL is printed redacted, so only its user and password are secret
            if match.group(0) == text and re.match(r"[A-Za-z][A-Za-z0-9+]*://", value):
                redaction.register_url(value)
            else:
                redaction.register(value)
        if current:
            return current
        if default is not None:
            return default
        if path == ("secret",):
            errors.add(
                doc.location(path),
                f"secret: environment variable {name} is not set",
                hint=_SECRET_HINT.replace(SECRET_ENV, name),
            )
        else:
            errors.add(
                doc.location(path),
                f"{label}: environment variable {name} is not set",
                hint=f"Set it (export {name}=...) or give a default: ${{{name}:-value}}.",
            )
        return ""

    return _VAR.sub(replace, text)


# --- validation ----------------------------------------------------------------


def _check_url(url: str) -> str:
    """A SQLAlchemy URL of a supported database. Messages never repeat the URL:
    it may hold a password."""
    from sqlalchemy.engine import make_url  # imported late: SQLAlchemy is slow to import

    match = re.match(r"([A-Za-z][A-Za-z0-9]*)(\+[A-Za-z0-9_]+)?://", url)
    if match is None:
        raise PydanticCustomError("url", "expected {hint}", {"hint": _URL_HINT})
    scheme = match.group(1).lower()
    problem = engines.scheme_problem(scheme)
    if problem:
        raise PydanticCustomError("url", "{problem}", {"problem": problem})
    try:
        make_url(url)
    except Exception:  # ArgumentError, or ValueError for a port that is not a number
        raise PydanticCustomError(
            "url", "not a valid URL; expected {hint}", {"hint": _URL_HINT}
        ) from None
    url = engines.canonical(url)  # e.g. Heroku's postgres://
    problem = engines.url_problem(url)
    if problem:
        raise PydanticCustomError("url", "{problem}", {"problem": problem})
    return url


Url = Annotated[str, AfterValidator(_check_url)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    # strict: YAML already typed the values; no silent coercion of 1 to "1".
    model_config = ConfigDict(extra="forbid", strict=True)


class _EnvironmentModel(_Model):
    url: Url
    after: list[NonEmpty] = []
    subset: Any = None  # checked by core/subset.py, with its lines
    on_busy: Literal["terminate", "wait", "fail"] = "terminate"
    keep: int = Field(1, ge=0)


class _ConfigModel(_Model):
    source: Url
    secret: str | None = None
    rules: NonEmpty
    protected: list[NonEmpty] = []
    environments: dict[str, _EnvironmentModel] = Field(min_length=1)


# What a key holds, appended to type errors. `*` stands for an environment name.
_WHAT: dict[tuple[str, ...], str] = {
    ("source",): _URL_HINT,
    ("environments", "*", "url"): _URL_HINT,
    ("secret",): f"write `secret: ${{{SECRET_ENV}}}`",
    ("rules",): "a rules file or folder, e.g. rules/",
    ("protected",): "host names or globs, e.g. [db.prod.internal]",
    ("protected", "*"): "a host name or glob, e.g. db.prod.internal",
    ("environments",): "e.g. dev: {url: sqlite:///dev.db}",
    ("environments", "*"): "e.g. dev: {url: sqlite:///dev.db}",
    ("environments", "*", "after"): "SQL files, e.g. [sql/staging.sql]",
    ("environments", "*", "after", "*"): "a SQL file, e.g. sql/staging.sql",
    ("environments", "*", "keep"): "how many previous copies to keep for rollback, e.g. 1",
}

_EXPECTED = {
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "int_type": "expected a whole number",
    "bool_type": "expected true or false",
}


def _pattern(loc: tuple[Any, ...]) -> tuple[str, ...]:
    # Positions that hold user-chosen names or list indices become `*`.
    out: list[str] = []
    for i, part in enumerate(loc):
        wildcard = (
            isinstance(part, int)
            or (i in (1, 3) and loc[0] == "environments")
            or (loc[0] == "protected" and i == 1)
        )
        out.append("*" if wildcard else str(part))
    return tuple(out)


def _report(error: Any, doc: YamlDoc, errors: ErrorList) -> None:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    what = _WHAT.get(_pattern(loc))
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = _EnvironmentModel if parent and parent[0] == "environments" else _ConfigModel
        message = f"{_dotted(loc)}: {unknown_key(str(loc[-1]), tuple(allowed.model_fields))}"
    elif kind == "missing":
        parent = _dotted(loc[:-1])
        message = f"{parent + ': ' if parent else ''}missing key `{loc[-1]}`"
        if what:
            message += f" ({what})"
    elif kind == "url":
        message = f"{_dotted(loc)}: {error['msg']}"
    elif kind == "too_short" and loc == ("environments",):
        message = "environments: define at least one, e.g. dev: {url: sqlite:///dev.db}"
    elif kind == "too_short" or kind == "string_too_short":
        message = f"{_dotted(loc)}: must not be empty"
        if what:
            message += f" ({what})"
    elif kind == "literal_error":
        message = f"{_dotted(loc)}: expected one of {', '.join(ON_BUSY)}"
    elif kind == "greater_than_equal":
        message = f"{_dotted(loc)}: must be {ctx.get('ge')} or more"
    else:
        message = f"{_dotted(loc)}: {_EXPECTED.get(kind, error['msg'])}"
        if what:
            message += f" ({what})"
    errors.add(doc.location(loc), message)


def _dotted(path: tuple[Any, ...]) -> str:
    """``environments.staging.after[0]``: the key path as a user reads it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


# --- typed result --------------------------------------------------------------


def _build(model: _ConfigModel, doc: YamlDoc, deferred: _Deferred) -> Config:
    base = doc.path.parent

    def relative(text: str) -> Path:
        # Relative to the config file, not the working directory: cron jobs and
        # CI run from anywhere. Path("datacloner.yml").parent is ".", giving
        # plain relative paths.
        return base / Path(text).expanduser()

    subsets = ErrorList()
    environments = {
        name: Environment(
            name=name,
            url=_sqlite_relative(env.url, base),
            after=tuple(relative(p) for p in env.after),
            subset=parse_subset(env.subset, doc, ("environments", name, "subset"), subsets),
            on_busy=env.on_busy,
            keep=env.keep,
            location=doc.location(("environments", name)),
            unset=deferred.per_env.get(name) or None,
        )
        for name, env in model.environments.items()
    }
    _refuse_working_names(doc, _sqlite_relative(model.source, base), environments)
    _refuse_subsets(doc, environments, subsets)
    return Config(
        path=doc.path,
        source=_sqlite_relative(model.source, base),
        source_unset=deferred.source or None,
        secret_unset=deferred.secret or None,
        secret_at=doc.location(("secret",)) if model.secret is not None else None,
        secret=model.secret,
        rules_path=relative(model.rules),
        protected=tuple(model.protected),
        environments=environments,
    )


def _refuse_subsets(doc: YamlDoc, environments: dict[str, Environment], errors: ErrorList) -> None:
    """A ``subset:`` the environment's engine cannot select is refused here:
    read and then ignored, it would copy the whole of production while
    promising 2% of it."""
    for name, env in environments.items():
        if env.subset is None or env.url == _UNSET_URL:
            continue
        engine = engines.engine_of(env.url)
        if not getattr(engine, "subset", False):
            errors.add(
                doc.location(("environments", name, "subset")),
                f"environments.{name}.subset: subsetting is not supported for "
                f"{engines.label(env.url)} yet",
                hint="remove `subset:` (the copy will be whole), or use `skip` in the rules "
                "for tables you do not need",
            )
    errors.raise_if_any()


def _refuse_working_names(doc: YamlDoc, source: str, environments: dict[str, Environment]) -> None:
    """A refresh creates and drops databases named after its target
    (``<target>__dc_new``, ``__dc_prev2``...): none of them may be the source or
    another environment's target, or a refresh would drop it."""
    from datacloner.core import guards

    named = [] if source == _UNSET_URL else [("source", ("source",), source)]
    named += [
        (f"environments.{n}.url", ("environments", n, "url"), e.url)
        for n, e in environments.items()
        if e.url != _UNSET_URL
    ]
    found = [
        (label, doc.location(path), url, guards.database_of(url)) for label, path, url in named
    ]
    errors = ErrorList()
    for label, where, url, target in found:
        if label == "source":
            continue  # only environments are written to
        for other_label, other_where, other_url, other in found:
            if guards.working_copy(url, other_url):
                errors.add(
                    other_where,
                    f"{other_label}: the database {other} is a working copy of {label} "
                    f"({where}, database {target}): a refresh or rollback there may "
                    "create, rename or drop it",
                    hint="give that database another name: names ending in __dc_new, "
                    "__dc_prev, __dc_prevN, __dc_tmp, __dc_old (SQLite: .dc_new, .prev, "
                    ".prevN, .dc_tmp, .dc_hold) are datacloner's",
                )
    errors.raise_if_any()


def _sqlite_relative(url: str, base: Path) -> str:
    """``sqlite:///file.db`` names a file relative to the config's folder, like
    every other path in the file. Rewritten as text: re-rendering through
    SQLAlchemy would percent-encode the path."""
    match = re.fullmatch(r"(sqlite(?:\+\w+)?:///)([^?]*)(\?.*)?", url, re.DOTALL | re.IGNORECASE)
    if match is None or base == Path("."):
        return url
    database = match.group(2)
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    if Path(database).is_absolute():
        return url
    return f"{match.group(1)}{base / database}{match.group(3) or ''}"
