"""pg_dump's post-data section run over several connections to the new copy,
as ``pg_restore -j`` and pgcopydb do.

The section is split with the archive's lexer (archive/sql.py) and each
statement classified:

- **builds**: ``CREATE INDEX``, ``ADD CONSTRAINT ... PRIMARY KEY | UNIQUE |
  EXCLUDE``: independent of each other, run in parallel, on the largest
  tables first;
- ``ALTER INDEX ... ATTACH PARTITION``: once both indexes exist;
- **foreign keys**: once every index of the referenced table (and of its
  partitions) exists, so the unique index they need is there;
- everything else (triggers, rules, comments, policies, statistics...): after
  all of those, one at a time, in the section's order.

No two statements whose locks conflict run at the same time (an index build
shares its table; a constraint takes it whole, a foreign key takes both of
its tables), so no statement waits on another's lock and none can deadlock.
pg_dump's ``SET`` lines are session state: each connection sets, before a
statement, the values in force at that statement's place in the section.

A failure cancels the statements running alongside and is reported with the
object it was building; the new copy is then dropped by the caller (the
target is never touched), so the statements need no shared transaction.
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import psycopg

from datacloner.archive.sql import Statement, Token, split
from datacloner.core import redaction
from datacloner.core.errors import Refused
from datacloner.engines.postgres.connection import connect_new_copy

Name = tuple[str, str]  # (schema, name) as the server spells them; schema "" if unqualified

BUILD, ATTACH, FOREIGN_KEY, OTHER = "build", "attach", "foreign key", "other"
# a key of a smaller table is built by its one statement: two would cost more
SPLIT_BYTES = 8 << 20
DEADLOCK_RETRIES = 3  # a lock the scheduler could not foresee (e.g. a user's session)


@dataclass
class Step:
    number: int  # position in the section
    statement: Statement
    settings: tuple[tuple[str, bytes], ...]  # the SETs in force at its place
    kind: str = OTHER
    what: str = ""  # the object, as an error names it
    table: Name | None = None
    only: bool = False  # ``ON ONLY`` / ``ALTER TABLE ONLY``: not its partitions
    index: Name | None = None  # the index a build creates, or an attach's parent index
    other: Name | None = None  # a foreign key's referenced table, an attach's child index
    exclusive: bool = True  # a CREATE INDEX shares its table with other index builds
    size: int = 0  # bytes of the tables it reads
    priority: int = 0  # its size and that of the steps waiting on it: the highest go first
    # ``(table, name, PRIMARY KEY | UNIQUE, columns)`` as written, for a plain
    # ``PRIMARY KEY (a, b)`` or ``UNIQUE (a, b)``: a unique index first (_split)
    plain_key: tuple[bytes, bytes, bytes, bytes] | None = None
    locks: set[Name] = field(default_factory=set)
    after: set[int] = field(default_factory=set)  # steps that must be done first


# --- reading the statements -------------------------------------------------------------


def _word(token: Token) -> str:
    """A keyword (unquoted words only: a quoted name is never a keyword)."""
    return token.value.decode("utf-8", "replace").upper() if token.kind == "word" else ""


def _ident(token: Token) -> str | None:
    if token.kind == "word":
        return token.value.decode("utf-8", "replace").lower()
    if token.kind == "qident":
        return token.value[1:-1].replace(b'""', b'"').decode("utf-8", "replace")
    return None


def _name(tokens: tuple[Token, ...], i: int) -> tuple[Name | None, int]:
    """The (possibly schema-qualified) name at ``tokens[i]``, and the position after it."""
    parts: list[str] = []
    while i < len(tokens) and (part := _ident(tokens[i])) is not None:
        parts.append(part)
        i += 1
        if i < len(tokens) and tokens[i].value == b"." and len(parts) < 3:
            i += 1
            continue
        break
    if not parts:
        return None, i
    return ((parts[-2] if len(parts) > 1 else ""), parts[-1]), i


def _shown(name: Name | None) -> str:
    if name is None:
        return "?"
    return f"{name[0]}.{name[1]}" if name[0] else name[1]


def _setting(statement: Statement) -> str | None:
    """The variable a ``SET x = ...`` or pg_dump's ``set_config('search_path', ...)`` sets."""
    tokens = statement.tokens
    first = _word(tokens[0])
    if first == "SET" and len(tokens) > 1 and _word(tokens[1]) not in ("LOCAL", "SESSION"):
        return _ident(tokens[1])
    if (
        first == "SELECT"
        and len(tokens) > 5
        and _ident(tokens[3]) == "set_config"
        and tokens[5].kind == "string"
    ):
        return tokens[5].value.strip(b"'").decode("utf-8", "replace").lower()
    return None


def _skip(tokens: tuple[Token, ...], i: int, *words: str) -> int:
    """Past the optional keyword run ``words`` at ``tokens[i]``."""
    n = len(words)
    if [_word(t) for t in tokens[i : i + n]] == list(words):
        return i + n
    return i


def classify(step: Step) -> None:
    """Fill in what ``step`` builds and on which table(s); unknown shapes stay OTHER."""
    tokens = step.statement.tokens
    words = [_word(t) for t in tokens[:3]]
    if words[:1] == ["CREATE"]:
        i = 2 if words[1:2] == ["UNIQUE"] else 1
        if i >= len(tokens) or _word(tokens[i]) != "INDEX":
            return
        i = _skip(tokens, i + 1, "CONCURRENTLY")
        i = _skip(tokens, i, "IF", "NOT", "EXISTS")
        name: Name | None = None
        if i < len(tokens) and _word(tokens[i]) != "ON":
            name, i = _name(tokens, i)
        if i >= len(tokens) or _word(tokens[i]) != "ON" or name is None:
            return
        only = _skip(tokens, i + 1, "ONLY") != i + 1
        table, _ = _name(tokens, i + 2 if only else i + 1)
        if table is None:
            return
        step.kind, step.table, step.only, step.exclusive = BUILD, table, only, False
        step.index = (table[0], name[1])  # an index lives in its table's schema
        unique = "unique " if words[1:2] == ["UNIQUE"] else ""
        step.what = f"the {unique}index {name[1]} on {_shown(table)}"
    elif words[:2] == ["ALTER", "TABLE"]:
        _alter_table(step, tokens)
    elif words[:2] == ["ALTER", "INDEX"]:
        parent, i = _name(tokens, 2)
        if [_word(t) for t in tokens[i : i + 2]] == ["ATTACH", "PARTITION"]:
            child, _ = _name(tokens, i + 2)
            if parent is not None and child is not None:
                step.kind, step.index, step.other = ATTACH, parent, child
                step.what = f"the index {_shown(child)} attached to {_shown(parent)}"


def _alter_table(step: Step, tokens: tuple[Token, ...]) -> None:
    i = _skip(tokens, 2, "IF", "EXISTS")
    only = _skip(tokens, i, "ONLY") != i
    first = i + 1 if only else i
    table, i = _name(tokens, first)
    if table is None or [_word(t) for t in tokens[i : i + 2]] != ["ADD", "CONSTRAINT"]:
        return
    table_text = _text(step.statement, first, i)
    constraint, end = _name(tokens, i + 2)
    if (
        constraint is None
        or end >= len(tokens)
        or any(t.value == b"," for t in _depth0(tokens, end))
    ):
        return  # several actions in one statement: not a shape pg_dump writes
    name_text, i = _text(step.statement, i + 2, end), end
    kind = _word(tokens[i])
    if kind in ("PRIMARY", "UNIQUE", "EXCLUDE"):
        step.kind, step.table, step.only = BUILD, table, only
        step.index = (table[0], constraint[1])
        step.what = f"the constraint {constraint[1]} on {_shown(table)}"
        at = i + 2 if kind == "PRIMARY" else i + 1  # PRIMARY KEY (...) | UNIQUE (...)
        rest = tokens[at:]
        if (
            kind != "EXCLUDE"
            and len(rest) >= 3
            and rest[0].kind == "lparen"
            and rest[-1].kind == "rparen"
            and all(t.kind in ("word", "qident") or t.value == b"," for t in rest[1:-1])
        ):
            what = b"PRIMARY KEY" if kind == "PRIMARY" else b"UNIQUE"
            step.plain_key = (table_text, name_text, what, _text(step.statement, at, len(tokens)))
    elif kind == "FOREIGN":
        refs = [j for j, t in _depth0_at(tokens, i) if _word(t) == "REFERENCES"]
        referenced = _name(tokens, refs[0] + 1)[0] if refs else None
        if referenced is None:
            return
        if not referenced[0]:
            referenced = (table[0], referenced[1])
        step.kind, step.table, step.only, step.other = FOREIGN_KEY, table, only, referenced
        step.what = f"the foreign key {constraint[1]} on {_shown(table)}"


def _text(statement: Statement, first: int, end: int) -> bytes:
    """The statement's text from token ``first`` to just before token ``end``."""
    base = statement.tokens[0].start
    tokens = statement.tokens
    return statement.text[tokens[first].start - base : tokens[end - 1].end - base]


def _depth0_at(tokens: tuple[Token, ...], start: int) -> Iterable[tuple[int, Token]]:
    depth = 0
    for j in range(start, len(tokens)):
        token = tokens[j]
        depth += token.kind == "lparen"
        depth -= token.kind == "rparen"
        if depth == 0 and token.kind not in ("lparen", "rparen"):
            yield j, token


def _depth0(tokens: tuple[Token, ...], start: int) -> list[Token]:
    return [t for _, t in _depth0_at(tokens, start)]


def plan_steps(script: bytes) -> list[Step]:
    """The section's statements as steps (the SET lines folded into each step's settings)."""
    steps: list[Step] = []
    settings: dict[str, bytes] = {}
    for statement in split(script, "the post-data section"):
        variable = _setting(statement)
        if variable is not None:
            settings[variable] = statement.text
            continue
        step = Step(len(steps), statement, tuple(settings.items()))
        classify(step)
        if not step.what:
            lead = b" ".join(t.value for t in statement.tokens[:2] if t.kind == "word")
            step.what = f"`{lead.decode('utf-8', 'replace')} ...` at line {statement.line}"
        steps.append(step)
    return steps


# --- ordering ---------------------------------------------------------------------------


@dataclass
class Tables:
    """What the new copy says about its tables: size and partitions."""

    sizes: dict[Name, int]
    children: dict[Name, list[Name]]
    partitioned: set[Name] = field(default_factory=set)

    @classmethod
    def read(cls, conn: psycopg.Connection) -> Tables:
        sizes: dict[Name, int] = {}
        oids: dict[int, Name] = {}
        partitioned: set[Name] = set()
        for oid, schema, name, size, kind in conn.execute(
            "SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_table_size(c.oid), c.relkind "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'm') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ):
            oids[oid] = (schema, name)
            sizes[(schema, name)] = size or 0
            if kind == "p":
                partitioned.add((schema, name))
        children: dict[Name, list[Name]] = {}
        for parent, child in conn.execute(
            "SELECT inhparent, inhrelid FROM pg_catalog.pg_inherits ORDER BY inhseqno, inhrelid"
        ):
            if parent in oids and child in oids:
                children.setdefault(oids[parent], []).append(oids[child])
        return cls(sizes, children, partitioned)

    def tree(self, table: Name) -> list[Name]:
        """``table`` and every partition (or child) below it."""
        out, seen, todo = [], set(), [table]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                out.append(name)
                todo.extend(self.children.get(name, []))
        return out

    def size(self, table: Name | None) -> int:
        return sum(self.sizes.get(t, 0) for t in self.tree(table)) if table else 0


def _split(step: Step, number: int) -> list[Step]:
    """A plain primary key or unique constraint as ``CREATE UNIQUE INDEX`` (which
    shares its table with the table's other index builds) and then ``ADD
    CONSTRAINT ... USING INDEX`` (a moment's exclusive lock), as pgcopydb does;
    the same index and constraint as the one statement makes."""
    assert step.plain_key is not None
    table, name, kind, columns = step.plain_key
    line = step.statement.line
    build = Step(
        number,
        Statement(
            b"CREATE UNIQUE INDEX %s ON %s USING btree %s" % (name, table, columns), line, ()
        ),
        step.settings,
        kind=BUILD,
        what=step.what,
        table=step.table,
        only=True,
        exclusive=False,
    )
    step.statement = Statement(
        b"ALTER TABLE ONLY %s ADD CONSTRAINT %s %s USING INDEX %s" % (table, name, kind, name),
        line,
        (),
    )
    step.after = {number}
    return [build, step]


def order(steps: list[Step], tables: Tables) -> list[Step]:
    """Locks, sizes, dependencies and priorities of the parallel steps
    (returned); OTHER steps are left for afterwards, in the section's order."""
    parallel: list[Step] = []
    for step in steps:
        if step.kind == OTHER:
            continue
        if (
            step.plain_key is not None
            and step.table not in tables.partitioned
            and tables.sizes.get(step.table, 0) >= SPLIT_BYTES  # type: ignore[arg-type]
        ):
            parallel.extend(_split(step, len(steps) + len(parallel)))
        else:
            parallel.append(step)
    # an index is there once its last step is done (a constraint's: USING INDEX)
    creator = {s.index: s for s in parallel if s.kind == BUILD and s.index is not None}
    for step in parallel:
        assert step.table is not None or step.kind == ATTACH
        if step.kind == ATTACH:
            parent, child = creator.get(step.index), creator.get(step.other)  # type: ignore[arg-type]
            if parent is None or child is None:  # not built here: after every build then
                step.after = {s.number for s in parallel if s.kind == BUILD}
                continue
            step.table = parent.table
            step.after = {parent.number, child.number}
            step.locks = {parent.table, child.table}  # type: ignore[arg-type]
            continue
        assert step.table is not None
        mine = [step.table] if step.only else tables.tree(step.table)
        step.locks = set(mine)
        step.size = sum(tables.sizes.get(t, 0) for t in mine)
        if step.kind == FOREIGN_KEY:
            assert step.other is not None
            referenced = tables.tree(step.other)
            step.locks.update(referenced)
            step.size += tables.size(step.other)
    # a foreign key needs the referenced table's unique index: every index of
    # that table (and its partitions), attached where partitioned, comes first
    on_table: dict[Name | None, set[int]] = {}
    for step in parallel:
        if step.kind in (BUILD, ATTACH):
            on_table.setdefault(step.table, set()).add(step.number)
    for step in parallel:
        if step.kind == FOREIGN_KEY:
            assert step.other is not None
            step.after = set().union(*(on_table.get(t, ()) for t in tables.tree(step.other)))
    # the longest chain first (its size and that of the steps waiting on it):
    # a small table's key must not hold a big foreign key back to the end
    by_number = {s.number: s for s in parallel}
    for step in parallel:
        step.priority = step.size
    for kind in (FOREIGN_KEY, ATTACH, BUILD):  # the order steps wait on each other in
        for step in parallel:
            if step.kind == kind:
                for number in step.after:
                    before = by_number[number]
                    before.priority = max(before.priority, before.size + step.priority)
    return parallel


# --- running them -----------------------------------------------------------------------


class _Session:
    """One connection of the new copy, with the SETs it has run."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.settings: dict[str, bytes] = {}

    def run(self, step: Step) -> None:
        for variable, text in step.settings:
            if self.settings.get(variable) != text:
                self.conn.execute(text)
                self.settings[variable] = text
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                self.conn.execute(step.statement.text)
                return
            except psycopg.errors.DeadlockDetected:
                if attempt == DEADLOCK_RETRIES:
                    raise


class _Locks:
    def __init__(self) -> None:
        self.held: dict[Name, tuple[bool, int]] = {}  # table -> (exclusive, holders)

    def free(self, step: Step) -> bool:
        for table in step.locks:
            exclusive, _ = self.held.get(table, (False, 0))
            if table in self.held and (exclusive or step.exclusive):
                return False
        return True

    def take(self, step: Step) -> None:
        for table in step.locks:
            _, holders = self.held.get(table, (step.exclusive, 0))
            self.held[table] = (step.exclusive, holders + 1)

    def give(self, step: Step) -> None:
        for table in step.locks:
            exclusive, holders = self.held[table]
            if holders <= 1:
                del self.held[table]
            else:
                self.held[table] = (exclusive, holders - 1)


def run_post_data(
    script: bytes,
    target: dict[str, str],
    jobs: int,
    columns_of: Callable[[str, str], list[str]] | None = None,
) -> None:
    """The post-data ``script`` into the database of ``target`` over up to ``jobs``
    connections; Refused naming the object on the first failure."""
    steps = plan_steps(script)
    if not steps:
        return
    first = connect_new_copy(target)
    sessions = [_Session(first)]
    try:
        parallel = order(steps, Tables.read(first))
        for _ in range(min(jobs, len(parallel)) - 1):
            sessions.append(_Session(connect_new_copy(target)))
        _run_parallel(parallel, sessions, columns_of)
        for step in steps:
            if step.kind == OTHER:  # the rest, one by one, in the section's order
                _run_one(sessions[0], step, columns_of)
    finally:
        for session in sessions:
            with contextlib.suppress(psycopg.Error):
                session.conn.close()


def _run_one(
    session: _Session, step: Step, columns_of: Callable[[str, str], list[str]] | None
) -> None:
    try:
        session.run(step)
    except psycopg.Error as exc:
        raise _failed(step, exc, columns_of) from None


class _Queue:
    """The steps whose dependencies are done, the highest priority first."""

    def __init__(self, steps: list[Step]) -> None:
        self.waiting = {s.number: len(s.after) for s in steps}
        self.dependents: dict[int, list[Step]] = {}
        for step in steps:
            for number in step.after:
                self.dependents.setdefault(number, []).append(step)
        self.heap = [(-s.priority, s.number, s) for s in steps if not s.after]
        heapq.heapify(self.heap)

    def take(self, locks: _Locks) -> Step | None:
        """The first ready step whose locks are free (None: wait for one to end)."""
        skipped = []
        found = None
        while self.heap:
            item = heapq.heappop(self.heap)
            if locks.free(item[2]):
                found = item[2]
                break
            skipped.append(item)
        for item in skipped:
            heapq.heappush(self.heap, item)
        return found

    def done(self, step: Step) -> None:
        for later in self.dependents.get(step.number, ()):
            self.waiting[later.number] -= 1
            if self.waiting[later.number] == 0:
                heapq.heappush(self.heap, (-later.priority, later.number, later))


def _run_parallel(
    steps: list[Step],
    sessions: list[_Session],
    columns_of: Callable[[str, str], list[str]] | None,
) -> None:
    queue = _Queue(steps)
    locks = _Locks()
    if len(sessions) == 1:  # one connection: in this thread, dependencies only
        while (step := queue.take(locks)) is not None:
            _run_one(sessions[0], step, columns_of)
            queue.done(step)
        return
    idle = list(reversed(sessions))
    running: dict[Future[None], tuple[Step, _Session]] = {}
    pool = ThreadPoolExecutor(max_workers=len(sessions), thread_name_prefix="post-data")
    failure: tuple[Step, BaseException] | None = None
    left = len(steps)
    try:
        while left:
            while idle and (step := queue.take(locks)) is not None:
                locks.take(step)
                session = idle.pop()
                running[pool.submit(session.run, step)] = (step, session)
            if not running:  # nothing can start: a dependency that never ends
                raise RuntimeError("post-data steps wait on each other")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: running[f][0].number):
                step, session = running.pop(future)
                locks.give(step)
                idle.append(session)
                error = future.exception()
                if error is not None and failure is None:
                    failure = (step, error)
                queue.done(step)
                left -= 1
            if failure is not None:
                break
    finally:
        _cancel(running)
        pool.shutdown(wait=True)
    if failure is not None:
        step, error = failure
        if isinstance(error, psycopg.Error):
            raise _failed(step, error, columns_of)
        raise error


def _cancel(running: dict[Future[None], tuple[Step, _Session]]) -> None:
    """Stop the statements still running (a failure or a stop: the copy is dropped)."""
    for _, session in running.values():
        with contextlib.suppress(psycopg.Error):
            session.conn.cancel()
    if running:
        wait(running, timeout=5.0)


def _failed(
    step: Step, exc: psycopg.Error, columns_of: Callable[[str, str], list[str]] | None
) -> Refused:
    error = redaction.from_psycopg(exc)
    hint = "the target server may lack an extension or role the source uses"
    if error.sqlstate.startswith("23"):
        hint = (
            "the target was not changed; masked values break that constraint: give the "
            "column's rule `unique: true`, or a rule whose values do not repeat"
        )
    return Refused(
        f"restoring the post-data section into the new database failed ({step.what}): "
        f"{redaction.describe(error, columns_of=columns_of)}",
        hint=hint,
    )
