"""The schema statements of an archive, split and checked before anything runs.

An archive's ``schema/*.sql`` members are pg_dump output, but whoever can edit
the file can write anything there. Restore never hands them to ``psql`` (which
would run ``\\!``, ``\\copy``, ``\\connect``): it splits them here with the
server's own lexical rules and sends each statement alone over the extended
protocol, so one chunk can never hold two statements. Each statement must be
of a kind pg_dump writes for objects inside one database; anything that
reaches outside it (other databases, files, programs, roles, the server's
settings, other servers) is refused before the new database is created.

Function bodies are code: a body is checked for the well-known escapes, but a
body that builds SQL at run time cannot be judged from its text. That is what
the archive's signature is for (docs/archive.md#trust). No database code here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from datacloner.core.errors import Refused, UsageError

_IDENT_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_") | frozenset(
    range(0x80, 0x100)
)
_IDENT_CONT = _IDENT_START | frozenset(b"0123456789$")
_DOLLAR = re.compile(rb"\$([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_RESTRICT = re.compile(rb"\\(restrict|unrestrict) ([A-Za-z0-9]{1,128})[ \t]*\r?(?:\n|$)")


@dataclass(frozen=True)
class Token:
    kind: str  # word, qident, string, op, semicolon, lparen, rparen, meta
    value: bytes
    start: int
    end: int
    line: int


@dataclass(frozen=True)
class Statement:
    text: bytes  # sent to the server as it is, without the closing `;`
    line: int  # where it starts in its member, for messages
    tokens: tuple[Token, ...]


class _Lexer:
    """PostgreSQL's lexical rules with standard_conforming_strings on (the
    only setting a statement here may choose): strings, E'' strings, quoted
    identifiers, dollar quotes, nested comments. Works on bytes: every
    encoding a server can use keeps quotes and backslashes ASCII."""

    def __init__(self, script: bytes, where: str) -> None:
        self.s = script
        self.where = where
        self.pos = 0
        self.line = 1

    def error(self, line: int, what: str) -> UsageError:
        return UsageError(
            f"{self.where}:{line}: {what}; the archive is damaged or was not written by "
            "`datacloner dump`; nothing was changed",
            hint="restore only archives your dump job signed",
        )

    def _advance(self, to: int) -> None:
        self.line += self.s.count(b"\n", self.pos, to)
        self.pos = to

    def _until(self, closing: bytes, start: int, line: int, what: str) -> int:
        end = self.s.find(closing, start)
        if end < 0:
            raise self.error(line, f"{what} that never ends")
        return end + len(closing)

    def tokens(self) -> list[Token]:
        s, out = self.s, []
        while self.pos < len(s):
            c, start, line = s[self.pos], self.pos, self.line
            nxt = s[self.pos + 1] if self.pos + 1 < len(s) else -1
            if c in b" \t\r\n\f\v":
                self._advance(self.pos + 1)
                continue
            if c == 0x2D and nxt == 0x2D:  # -- comment
                end = s.find(b"\n", self.pos)
                self._advance(len(s) if end < 0 else end)
                continue
            if c == 0x2F and nxt == 0x2A:  # /* nested */
                self._advance(self._comment_end(line))
                continue
            if c == 0x27:  # 'string'
                kind, end = "string", self._string_end(self.pos + 1, line, escapes=False)
            elif c == 0x22:  # "identifier"
                kind, end = "qident", self._quoted_end(self.pos + 1, line)
            elif c == 0x24 and (m := _DOLLAR.match(s, self.pos)):
                tag = m.group(0)
                kind, end = "string", self._until(tag, m.end(), line, "a $-quoted string")
            elif c in _IDENT_START:
                end = self.pos + 1
                while end < len(s) and s[end] in _IDENT_CONT:
                    end += 1
                kind = "word"
                if s[start:end] in (b"E", b"e") and end < len(s) and s[end] == 0x27:
                    kind, end = "string", self._string_end(end + 1, line, escapes=True)
            elif 0x30 <= c <= 0x39:
                end = self.pos + 1
                while end < len(s) and (s[end] in _IDENT_CONT or s[end] == 0x2E):
                    end += 1
                kind = "op"
            elif c == 0x5C:  # a backslash outside quotes: a psql meta-command
                end = s.find(b"\n", self.pos)
                end = len(s) if end < 0 else end
                kind = "meta"
            else:
                end = self.pos + 1
                kind = {0x3B: "semicolon", 0x28: "lparen", 0x29: "rparen"}.get(c, "op")
            out.append(Token(kind, s[start:end], start, end, line))
            self._advance(end)
        return out

    def _comment_end(self, line: int) -> int:
        depth, i = 0, self.pos
        while i < len(self.s):
            if self.s.startswith(b"/*", i):
                depth, i = depth + 1, i + 2
            elif self.s.startswith(b"*/", i):
                depth, i = depth - 1, i + 2
                if depth == 0:
                    return i
            else:
                i += 1
        raise self.error(line, "a /* comment that never ends")

    def _string_end(self, i: int, line: int, escapes: bool) -> int:
        s = self.s
        while i < len(s):
            if escapes and s[i] == 0x5C:
                i += 2
            elif s[i] == 0x27:
                if i + 1 < len(s) and s[i + 1] == 0x27:
                    i += 2
                else:
                    return i + 1
            else:
                i += 1
        raise self.error(line, "a quoted string that never ends")

    def _quoted_end(self, i: int, line: int) -> int:
        while True:
            i = self._until(b'"', i, line, "a quoted name")
            if not self.s.startswith(b'"', i):
                return i
            i += 1


def _word(token: Token) -> str:
    if token.kind == "word":
        return token.value.decode("utf-8", "replace").upper()
    if token.kind == "qident":
        return token.value[1:-1].replace(b'""', b'"').decode("utf-8", "replace").upper()
    return ""


def split(script: bytes, where: str) -> list[Statement]:
    """``script`` as statements. pg_dump's own ``\\restrict KEY`` first and
    ``\\unrestrict KEY`` last are dropped (they only tell psql to refuse
    meta-commands); any other backslash command is refused."""
    tokens = _Lexer(script, where).tokens()
    if tokens and tokens[0].kind == "meta" and (m := _RESTRICT.fullmatch(tokens[0].value + b"\n")):
        key = m.group(2)
        last = tokens[-1]
        if (
            m.group(1) == b"restrict"
            and last.kind == "meta"
            and last.value.rstrip() == b"\\unrestrict " + key
        ):
            tokens = tokens[1:-1]
    statements: list[Statement] = []
    current: list[Token] = []
    parens = atomic = 0
    for token in tokens:
        if token.kind == "meta":
            command = ascii(token.value.split(maxsplit=1)[0].decode("utf-8", "replace")[:20])[1:-1]
            raise Refused(
                f"{where}:{token.line}: the psql meta-command `{command}` is not allowed in an "
                "archive; restore runs no client commands; nothing was changed",
                hint=_HINT,
            )
        if token.kind == "semicolon" and parens == 0 and atomic == 0:
            if current:
                statements.append(_statement(script, current))
            current = []
            continue
        current.append(token)
        if token.kind == "lparen":
            parens += 1
        elif token.kind == "rparen":
            parens = max(0, parens - 1)
        elif token.kind == "word" and _is_routine(current):
            # SQL-standard bodies (BEGIN ATOMIC ... END) hold `;`: as psql does
            word = _word(token)
            if word in ("BEGIN", "CASE"):
                atomic += 1
            elif word == "END" and atomic:
                atomic -= 1
    if current:
        raise _Lexer(script, where).error(current[0].line, "a statement without its closing `;`")
    return statements


def _statement(script: bytes, tokens: list[Token]) -> Statement:
    return Statement(script[tokens[0].start : tokens[-1].end], tokens[0].line, tuple(tokens))


def _is_routine(tokens: list[Token]) -> bool:
    words = [_word(t) for t in tokens[:4]]
    if words[:1] != ["CREATE"]:
        return False
    rest = words[3:] if words[1:3] == ["OR", "REPLACE"] else words[1:]
    return bool(rest) and rest[0] in ("FUNCTION", "PROCEDURE")


_HINT = (
    "restore runs only pg_dump's schema statements for objects inside the new database "
    "(docs/archive.md#trust); restore only archives your dump job signed"
)

# SET: only the settings pg_dump's header writes
_SETTINGS = {
    "STATEMENT_TIMEOUT",
    "LOCK_TIMEOUT",
    "IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
    "TRANSACTION_TIMEOUT",
    "CLIENT_ENCODING",
    "STANDARD_CONFORMING_STRINGS",
    "CHECK_FUNCTION_BODIES",
    "XMLOPTION",
    "CLIENT_MIN_MESSAGES",
    "ROW_SECURITY",
    "DEFAULT_TABLESPACE",
    "DEFAULT_TABLE_ACCESS_METHOD",
    "DEFAULT_WITH_OIDS",
    "SEARCH_PATH",
    "ESCAPE_STRING_WARNING",
}
# client encodings whose multibyte characters may hold `'` or `\` bytes would
# make this lexer and the server's disagree: only server encodings pass
_ENCODING = re.compile(
    r"'?(UTF8|UTF-8|UNICODE|SQL_ASCII|LATIN([1-9]|10)|WIN(866|874|125[0-8])|"
    r"EUC_(CN|JP|JIS_2004|KR|TW)|ISO_8859_[5-8]|KOI8[RU]?|MULE_INTERNAL)'?",
    re.IGNORECASE,
)
_CREATE = {
    "SCHEMA",
    "TABLE",
    "SEQUENCE",
    "VIEW",
    "RECURSIVE",
    "MATERIALIZED",
    "INDEX",
    "UNIQUE",
    "TYPE",
    "DOMAIN",
    "FUNCTION",
    "PROCEDURE",
    "AGGREGATE",
    "OPERATOR",
    "TRIGGER",
    "CONSTRAINT",
    "EVENT",
    "RULE",
    "EXTENSION",
    "COLLATION",
    "CAST",
    "CONVERSION",
    "DEFAULT",
    "TEXT",
    "POLICY",
    "STATISTICS",
    "ACCESS",
    "TRANSFORM",
    "UNLOGGED",
}
_ALTER = {
    "TABLE",
    "INDEX",
    "SEQUENCE",
    "VIEW",
    "MATERIALIZED",
    "TYPE",
    "DOMAIN",
    "FUNCTION",
    "PROCEDURE",
    "ROUTINE",
    "AGGREGATE",
    "SCHEMA",
    "TRIGGER",
    "POLICY",
    "STATISTICS",
    "LARGE",
    "OPERATOR",
    "COLLATION",
    "CONVERSION",
    "TEXT",
    "EVENT",
    "RULE",
}
_NOT_COMMENTED = {"DATABASE", "ROLE", "TABLESPACE", "SERVER", "SUBSCRIPTION", "PUBLICATION"}
# trusted languages only: untrusted ones (plpython3u, ...) and C load code
_LANGUAGES = {"SQL", "PLPGSQL", "PLPERL", "PLTCL", "PLV8"}
# extensions that reach outside the database (other servers, files, shells)
_EXTENSIONS = {
    "DBLINK",
    "POSTGRES_FDW",
    "FILE_FDW",
    "ADMINPACK",
    "PLPYTHONU",
    "PLPYTHON2U",
    "PLPYTHON3U",
    "PLPERLU",
    "PLTCLU",
    "PLSH",
    "PG_CRON",
    "PG_WALINSPECT",  # WAL holds every database's rows
}
# functions that read or write the server's files, run queries given as text,
# or act on other sessions and the server itself
_FUNCTIONS = re.compile(
    r"(PG_READ_FILE|PG_READ_BINARY_FILE|PG_LS_\w+|PG_STAT_FILE|PG_FILE_\w+|PG_LOGDIR_LS|"
    r"LO_IMPORT|LO_EXPORT|DBLINK\w*|PG_TERMINATE_BACKEND|PG_CANCEL_BACKEND|PG_RELOAD_CONF|"
    r"PG_ROTATE_LOGFILE|PG_PROMOTE|PG_SWITCH_WAL|PG_CREATE_RESTORE_POINT|PG_BACKUP_\w+|"
    r"PG_START_BACKUP|PG_STOP_BACKUP|PG_WAL_REPLAY_\w+|PG_LOG_BACKEND_MEMORY_CONTEXTS|"
    r"QUERY_TO_XML\w*|CURSOR_TO_XML\w*|TS_STAT|SET_CONFIG|PG_\w*REPLICATION\w*|"
    r"PG_IMPORT_SYSTEM_COLLATIONS)"
)
_BODY = re.compile(
    rb"\bCOPY\b[^;]*?\b(?:TO|FROM)\s+(?:PROGRAM\b|E?'|\$)"
    rb"|\b(?:ALTER|CREATE|DROP)\s+(?:SYSTEM|DATABASE|ROLE|USER|GROUP|TABLESPACE|SERVER|"
    rb"SUBSCRIPTION|EXTENSION|LANGUAGE)\b"
    rb"|\bSET\s+(?:LOCAL\s+|SESSION\s+)?(?:ROLE|SESSION\s+AUTHORIZATION)\b"
    rb"|\b(?:GRANT|REVOKE)\b|\bLOAD\s+'"
    rb"|(?:\bpg_catalog\s*\.\s*|(?<![\w.$]))\"?(?:PG_READ_FILE|PG_READ_BINARY_FILE|PG_LS_\w+|"
    rb"PG_STAT_FILE|PG_FILE_\w+|LO_IMPORT|LO_EXPORT|DBLINK\w*|PG_TERMINATE_BACKEND|"
    rb"PG_RELOAD_CONF|QUERY_TO_XML\w*|TS_STAT|SET_CONFIG)\"?\s*\(",
    re.IGNORECASE,
)
_HEADER_SELECTS = (
    re.compile(rb"SELECT\s+pg_catalog\.set_config\('search_path',\s*'',\s*false\)"),
    re.compile(rb"SELECT\s+pg_catalog\.lo_create\('\d+'\)"),
)


def check(statement: Statement, where: str) -> None:
    """Refuse a statement outside pg_dump's schema kinds (Refused, exit 1)."""
    words = [_word(t) for t in statement.tokens if t.kind in ("word", "qident")]
    lead = [_word(t) for t in statement.tokens[:2] if t.kind == "word"]
    kind = ascii(" ".join(lead) or statement.tokens[0].value.decode("utf-8", "replace")[:20])[1:-1]

    def refuse(why: str) -> Refused:
        return Refused(
            f"{where}:{statement.line}: `{kind} ...` is not allowed in an archive ({why}); "
            "nothing was changed",
            hint=_HINT,
        )

    first = _word(statement.tokens[0])
    if statement.tokens[0].kind != "word":
        raise refuse("not a schema statement")
    if first == "SET":
        name = words[1] if len(words) > 1 else ""
        if name not in _SETTINGS:
            raise refuse("only the settings pg_dump writes may be set")
        value = b" ".join(t.value for t in statement.tokens[3:]).decode("utf-8", "replace")
        if name == "STANDARD_CONFORMING_STRINGS" and value.strip("'").lower() != "on":
            raise refuse("standard_conforming_strings stays on")
        if name == "CLIENT_ENCODING" and not _ENCODING.fullmatch(value):
            raise refuse("a client-only encoding")
        return
    if first == "SELECT":
        if not any(p.fullmatch(statement.text) for p in _HEADER_SELECTS):
            raise refuse("a query")
        return
    for i, token in enumerate(statement.tokens):
        if _calls(statement.tokens, i):
            raise refuse(f"it calls {_word(token).lower()}, which reaches outside the database")
    if first == "CREATE":
        _check_create(statement, words, refuse)
    elif first == "ALTER":
        if len(words) < 2 or words[1] not in _ALTER:
            raise refuse("only objects inside the database may be altered")
        if words[1] == "EXTENSION":
            raise refuse("extensions are created, not altered")
    elif first == "REFRESH":  # pg_dump's post-data, for a populated materialized view
        if words[1:3] != ["MATERIALIZED", "VIEW"]:
            raise refuse("only REFRESH MATERIALIZED VIEW")
    elif first in ("COMMENT", "SECURITY"):
        target = words[2] if first == "COMMENT" else _after(words, "ON")
        if target in _NOT_COMMENTED:
            raise refuse("only objects inside the database")
    else:
        raise refuse("not one of pg_dump's schema statements")


def _calls(tokens: tuple[Token, ...], i: int) -> bool:
    """Whether ``tokens[i]`` is a call of a denied function: ``f(``,
    ``pg_catalog.f``, ``(x).f``; not ``app.f`` (the app's own function of that
    name) nor a column that merely starts like one."""
    if tokens[i].kind not in ("word", "qident") or not _FUNCTIONS.fullmatch(_word(tokens[i])):
        return False
    if i >= 1 and tokens[i - 1].value == b".":
        qualifier = tokens[i - 2] if i >= 2 else None
        if qualifier is None or qualifier.kind not in ("word", "qident"):
            return True  # (expression).f
        return _word(qualifier) == "PG_CATALOG"
    return i + 1 < len(tokens) and tokens[i + 1].kind == "lparen"


def _after(words: list[str], word: str) -> str:
    return words[words.index(word) + 1] if word in words[:-1] else ""


def _check_create(statement: Statement, words: list[str], refuse: Callable[[str], Refused]) -> None:
    rest = words[3:] if words[1:3] == ["OR", "REPLACE"] else words[1:]
    what = rest[0] if rest else ""
    if what not in _CREATE or (what == "TEXT" and rest[1:2] != ["SEARCH"]):
        raise refuse("only objects inside the database may be created")
    if what in ("TABLE", "UNLOGGED") and _depth0_word(statement, ("AS", "EXECUTE")):
        raise refuse("CREATE TABLE AS runs a query")
    if what == "MATERIALIZED" and words[-3:] != ["WITH", "NO", "DATA"]:
        raise refuse("materialized views are created WITH NO DATA and refreshed by restore")
    if what == "EXTENSION":
        named = rest[4:] if rest[1:4] == ["IF", "NOT", "EXISTS"] else rest[1:]
        name = named[0] if named else ""
        if name in _EXTENSIONS or "CASCADE" in words:
            raise refuse(
                f"the extension {ascii(name.lower()[:40])[1:-1]} reaches outside the database"
            )
    if what in ("FUNCTION", "PROCEDURE"):
        language = _depth0_after(statement, "LANGUAGE")
        if language and language not in _LANGUAGES:
            shown = ascii(language.lower()[:40])[1:-1]
            raise refuse(f"functions in {shown} load code; only trusted languages")
        for token in statement.tokens:
            if token.kind == "string" and (m := _BODY.search(token.value)):
                found = m.group(0).split(b"(")[0].decode("utf-8", "replace").strip()[:30]
                raise refuse(f"its body holds `{found}`")


def _depth0_word(statement: Statement, wanted: tuple[str, ...]) -> bool:
    depth = 0
    for token in statement.tokens:
        depth += token.kind == "lparen"
        depth -= token.kind == "rparen"
        if depth == 0 and token.kind == "word" and _word(token) in wanted:
            return True
    return False


def _depth0_after(statement: Statement, keyword: str) -> str:
    depth, take = 0, False
    for token in statement.tokens:
        depth += token.kind == "lparen"
        depth -= token.kind == "rparen"
        if take:
            if token.kind == "string":
                return token.value.strip(b"'").decode("utf-8", "replace").upper()
            return _word(token)
        take = depth == 0 and token.kind == "word" and _word(token) == keyword
    return ""


def checked(script: bytes, where: str) -> list[Statement]:
    """``script`` split into statements, each checked (see ``check``)."""
    statements = split(script, where)
    for statement in statements:
        check(statement, where)
    return statements
