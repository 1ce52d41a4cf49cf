"""The documentation runs: every `datacloner ...` command line in README.md,
docs/**/*.md and docs/recipes/*.yml parses against the real CLI, the recipe
YAML files are valid, the configuration snippets load, links resolve, and the
README keeps its contract (its first lines, every page linked, an accurate
layout table). Fast: no database, nothing is invoked."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.core
import typer.main
import yaml

import datacloner.cli
from datacloner.core.config import load_config
from datacloner.core.rules import load_rules

# typer vendors click since 0.2x (typer._click); older versions import click itself
_click = getattr(typer.core, "_click", None) or typer.core.click
CliError = _click.ClickException

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PACKAGE = ROOT / "datacloner"

README_HEAD = (
    "# datacloner\n"
    "\n"
    "```sh\n"
    "make demo    # venv + install, then `datacloner refresh dev` on a bundled SQLite example "
    "(no server needed)\n"
    "make test    # install and run the whole test suite\n"
    "```\n"
)

# fenced blocks whose lines are shell commands, or hold them (cron, YAML, systemd)
COMMAND_LANGUAGES = {"sh", "bash", "shell", "console", "cron", "crontab", "yaml", "yml", "ini"}
YAML_COMMAND_KEYS = {"run", "script", "before_script", "after_script"}
# usage synopses (`[--yes]`, `FILE...`) are not runnable lines; there must stay few
MAX_SKIPPED = 6

# `>file`, `2>>file`, `2>&1`, `< file`: not arguments of the command
_REDIRECT = re.compile(
    r"(?:^|(?<=\s))(?:\d+|&)?(?:>>|>|<)(?:&\d+|\s*(?:\"[^\"]*\"|'[^']*'|[^\s;&|)'\"]+))"
)
_OPERATOR = re.compile(r"^[();<>|&]+$")
_SYSTEMD_EXEC = re.compile(r"^\s*Exec\w*=[-@:+!]*(.*)$")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def recipe_yaml_files() -> list[Path]:
    return sorted((DOCS / "recipes").glob("*.yml"))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass
class Block:
    path: Path
    line: int  # line of the first line inside the fence
    language: str
    lines: list[str]


def _split(path: Path) -> tuple[list[Block], list[str]]:
    """Fenced code blocks (indented ones inside list items too, dedented), and
    the prose lines around them."""
    blocks: list[Block] = []
    prose: list[str] = []
    current: Block | None = None
    indent = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if current is None:
            if stripped.startswith("```"):
                indent = len(line) - len(line.lstrip())
                words = stripped[3:].split()
                current = Block(path, number + 1, words[0].lower() if words else "", [])
            else:
                prose.append(line)
        elif stripped == "```":
            blocks.append(current)
            current = None
        else:
            current.lines.append(line[indent:] if line[:indent].strip() == "" else line)
    assert current is None, f"{rel(path)}: a code block is not closed"
    return blocks, prose


def fenced_blocks(path: Path) -> list[Block]:
    return _split(path)[0]


def logical_lines(lines: list[str], first: int) -> Iterator[tuple[int, str]]:
    """Lines with `\\` continuations joined, each with its first line number."""
    pending, start = "", first
    for offset, line in enumerate(lines):
        if not pending:
            start = first + offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def is_datacloner(token: str) -> bool:
    return token == "datacloner" or token.endswith("/bin/datacloner")


def commands_in(line: str) -> list[list[str]]:
    """The argument lists of every `datacloner` invocation in one shell line:
    after `&&`, `;` or `|`, behind a path (`/opt/x/bin/datacloner`), and inside
    quoted scripts (`sh -c '... datacloner ...'`); redirections dropped."""
    line = line.strip()
    if line.startswith("$ "):
        line = line[2:]
    line = _REDIRECT.sub(" ", line)
    try:
        tokens = _tokens(line)
    except ValueError:
        if re.search(r"(^|[\s;&|'\"/])datacloner\s", line):
            raise AssertionError(f"cannot split this shell line: {line}") from None
        return []
    found: list[list[str]] = []
    segment: list[str] = []
    for token in [*tokens, ";"]:
        if _OPERATOR.match(token):
            for i, word in enumerate(segment):
                if is_datacloner(word):
                    found.append(segment[i + 1 :])
                    break
            segment = []
            continue
        if re.search(r"\s", token):  # a quoted script: look inside it
            found.extend(commands_in(token))
        segment.append(token)
    return found


@dataclass
class CommandLine:
    where: str  # file:line
    text: str
    args: list[str]

    @property
    def placeholder(self) -> bool:
        return any("..." in a or a.startswith("[") or a.endswith("]") for a in self.args)


def _block_lines(block: Block) -> Iterator[tuple[int, str]]:
    for number, line in logical_lines(block.lines, block.line):
        if block.language == "ini":
            exec_line = _SYSTEMD_EXEC.match(line)
            if exec_line is None:
                continue
            line = exec_line.group(1)
        yield number, line


def _yaml_scripts(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in YAML_COMMAND_KEYS:
                values = value if isinstance(value, list) else [value]
                yield from (v for v in values if isinstance(v, str))
            else:
                yield from _yaml_scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _yaml_scripts(item)


def documented_commands() -> list[CommandLine]:
    found: list[CommandLine] = []
    for path in markdown_files():
        for block in fenced_blocks(path):
            if block.language not in COMMAND_LANGUAGES:
                continue
            for number, line in _block_lines(block):
                for args in commands_in(line):
                    found.append(CommandLine(f"{rel(path)}:{number}", line.strip(), args))
    for path in recipe_yaml_files():
        text = path.read_text()
        for script in _yaml_scripts(yaml.safe_load(text)):
            for _, line in logical_lines(script.splitlines(), 0):
                for args in commands_in(line):
                    # the file's line of the command, for the error message
                    needle = line.strip().split(" \\")[0][:40]
                    number = next(
                        (
                            n
                            for n, t in enumerate(text.splitlines(), 1)
                            if needle in t and not t.lstrip().startswith("#")
                        ),
                        0,
                    )
                    found.append(CommandLine(f"{rel(path)}:{number}", line.strip(), args))
    return found


COMMANDS = documented_commands()
RUNNABLE = [c for c in COMMANDS if not c.placeholder]


def parse(args: list[str]) -> object:
    """Parse ``datacloner ARGS`` as the real CLI would, without invoking it.
    Raises CliError (click's UsageError and kin) on anything the CLI would refuse."""
    group = typer.main.get_command(datacloner.cli.app)
    if not args:
        raise CliError("no verb after `datacloner`")
    if args[0] == "--version":
        return None
    command = group.commands.get(args[0])
    if command is None:
        raise CliError(f"no such command `{args[0]}`; have {', '.join(group.commands)}")
    assert "--help" not in args[1:], "a documented `--help` line would print, not parse"
    return command.make_context(f"datacloner {args[0]}", list(args[1:]), resilient_parsing=False)


# --- the README's contract ---------------------------------------------------------


def test_the_readme_starts_with_the_two_make_commands():
    text = README.read_text()
    assert text.startswith(README_HEAD), "the README's first lines are a contract: keep them"
    first = fenced_blocks(README)[0]
    assert [line.split()[:2] for line in first.lines] == [["make", "demo"], ["make", "test"]]


def test_every_doc_and_recipe_is_linked_from_the_readme():
    links = set(re.findall(r"\]\(([^)#\s]+)(?:#[^)\s]*)?\)", README.read_text()))
    pages = [*sorted(DOCS.rglob("*.md")), *recipe_yaml_files()]
    missing = [rel(p) for p in pages if rel(p) not in links]
    assert not missing, f"link these from README.md's Documentation table: {missing}"


def _mentioned_modules() -> set[str]:
    text = README.read_text()
    layout = text[text.index("## Layout") :]
    names = re.findall(r"[\w/]+(?:\.py|/)", layout)
    # `datacloner/engines/postgres/swap.py` and `swap.py` both name swap.py
    return {n.rstrip("/").split("/")[-1] + ("/" if n.endswith("/") else "") for n in names}


def test_the_readme_layout_names_only_modules_that_exist():
    text = README.read_text()
    stale = [
        path
        for path in re.findall(r"`(datacloner/[\w/]+(?:\.py)?/?)`", text)
        if not (ROOT / path).exists()
    ]
    assert not stale, f"README.md names modules that do not exist: {stale}"


def test_the_readme_layout_names_every_module():
    mentioned = _mentioned_modules()
    modules = [p for p in PACKAGE.glob("*.py") if not p.name.startswith("__")]
    modules += [
        p
        for folder in ("engines", "cli")
        for p in (PACKAGE / folder).glob("*.py")
        if not p.name.startswith("__")
    ]
    missing = [rel(p) for p in sorted(modules) if p.name not in mentioned]
    packages = [
        p
        for p in PACKAGE.iterdir()
        if (p / "__init__.py").exists() and p.name not in ("engines", "cli")
    ]
    missing += [rel(p) + "/" for p in sorted(packages) if f"{p.name}/" not in mentioned]
    assert not missing, f"add these to the Layout table of README.md: {missing}"


# --- command lines ---------------------------------------------------------------------


def test_the_docs_hold_the_commands_of_every_verb():
    group = typer.main.get_command(datacloner.cli.app)
    documented = {c.args[0] for c in RUNNABLE if c.args}
    assert set(group.commands) <= documented, set(group.commands) - documented
    assert len(RUNNABLE) >= 40  # the extraction found the recipes' commands


def test_usage_synopses_stay_few():
    skipped = [f"{c.where}: {c.text}" for c in COMMANDS if c.placeholder]
    assert len(skipped) <= MAX_SKIPPED, "\n".join(skipped)


@pytest.mark.parametrize("command", RUNNABLE, ids=lambda c: c.where)
def test_documented_command_parses(command: CommandLine):
    try:
        parse(command.args)
    except CliError as exc:
        pytest.fail(f"{command.where}: `{command.text}`: {exc.format_message()}")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("datacloner check --strict", [["check", "--strict"]]),
        (
            "datacloner refresh staging --yes --json > r.json 2>&1 && datacloner verify staging",
            [["refresh", "staging", "--yes", "--json"], ["verify", "staging"]],
        ),
        (
            "30 2 * * * dcrun set -a; . /etc/env; set +a; datacloner status staging >> log",
            [["status", "staging"]],
        ),
        (
            "/bin/sh -c 'exec /opt/datacloner/bin/datacloner dump s.dcz --json > \"$OUT\"'",
            [["dump", "s.dcz", "--json"]],
        ),
        (
            "run: datacloner restore s.dcz --to test --yes  # in CI",
            [["restore", "s.dcz", "--to", "test", "--yes"]],
        ),
        ("sudo pip install ./datacloner", []),
        ("export DATACLONER_CONFIG=/etc/datacloner/datacloner.yml", []),
        ("make demo    # then `datacloner refresh dev`", []),
    ],
)
def test_the_extractor_finds_datacloner_invocations(line: str, expected: list[list[str]]):
    assert commands_in(line) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["refresh", "staging", "--no-such-flag"],
        ["refresh", "staging", "--drain-timeout", "soon"],
        ["restore", "snapshot.dcz"],  # --to is required
        ["rollback"],  # ENV is required
        ["check", "extra"],
        ["nonsense"],
    ],
)
def test_the_parser_refuses_what_the_cli_refuses(args: list[str]):
    with pytest.raises(CliError):
        parse(args)


# --- YAML ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", recipe_yaml_files(), ids=rel)
def test_recipe_yaml_is_valid(path: Path):
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{rel(path)}: expected a mapping"
    if "jobs" in data:  # GitHub Actions (PyYAML reads the key `on` as True)
        assert "on" in data or True in data, f"{rel(path)}: no `on:` triggers"
        for name, job in data["jobs"].items():
            assert "runs-on" in job, f"{rel(path)}: job {name} has no runs-on"
            for step in job["steps"]:
                assert ("uses" in step) != ("run" in step), f"{rel(path)}: {name}: {step}"
    else:  # GitLab CI
        stages = data["stages"]
        globals_ = {"variables", "default", "workflow", "include"}
        jobs = {k: v for k, v in data.items() if isinstance(v, dict) and k not in globals_}
        for name, job in jobs.items():
            if name.startswith("."):
                continue
            assert job.get("stage") in stages, f"{rel(path)}: {name}: unknown stage"
            parent = job.get("extends")
            assert parent is None or parent in jobs, f"{rel(path)}: {name}: extends {parent}"
            assert "script" in job, f"{rel(path)}: {name}: no script"


def _config_snippets() -> list[object]:
    snippets = []
    for path in markdown_files():
        for block in fenced_blocks(path):
            text = "\n".join(block.lines) + "\n"
            if block.language in ("yaml", "yml") and re.search(r"^environments:", text, re.M):
                where = f"{rel(path)}:{block.line}"
                snippets.append(pytest.param(where, text, id=where))
    return snippets


@pytest.mark.parametrize(("where", "text"), _config_snippets())
def test_documented_datacloner_yml_loads(where: str, text: str, tmp_path, monkeypatch):
    """Every `datacloner.yml` shown loads as written, with none of its
    variables set (as in CI): only the verbs that use one need it."""
    for name in re.findall(r"\$\{(\w+)", text):
        monkeypatch.delenv(name, raising=False)
    if not re.search(r"^source:", text, re.M):  # an excerpt: complete it
        text = "source: sqlite:///source.db\nrules: rules/\n" + text
    path = tmp_path / "datacloner.yml"
    path.write_text(text)
    config = load_config(path)
    assert config.environments, where


def _rules_snippets() -> list[object]:
    snippets = []
    for path in markdown_files():
        for block in fenced_blocks(path):
            text = "\n".join(block.lines) + "\n"
            if block.language in ("yaml", "yml") and re.search(r"^tables:", text, re.M):
                where = f"{rel(path)}:{block.line}"
                snippets.append(pytest.param(where, text, id=where))
    return snippets


@pytest.mark.parametrize(("where", "text"), _rules_snippets())
def test_documented_rules_files_load(where: str, text: str, tmp_path):
    """Every whole rules file shown loads as written (e.g. `keep` reasons
    holding a comma, quoted in flow style)."""
    path = tmp_path / "rules.yml"
    path.write_text(text)
    assert load_rules(path).tables, where


def test_the_keep_reason_example_with_a_comma_is_documented():
    text = (DOCS / "rules.md").read_text()
    assert '{name: "a region, not a person"}' in text


# --- links -----------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m[1]) for line in _split(path)[1] if (m := re.match(r"#+\s+(.*)", line))}


@pytest.mark.parametrize("path", markdown_files(), ids=rel)
def test_relative_links_resolve(path: Path):
    broken = []
    for line in _split(path)[1]:
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            found = dest.exists() and (
                not anchor or dest.suffix != ".md" or anchor in _anchors(dest)
            )
            if not found:
                broken.append(target)
    assert not broken, f"{rel(path)}: broken links: {broken}"
