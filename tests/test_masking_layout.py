"""The shape of datacloner/masking: a rule kind lives in one module, the
registry imports none of them, and the package has no import cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from datacloner.detect import detectors
from datacloner.masking import kinds
from datacloner.masking.kinds import scrub
from datacloner.scan import values

PACKAGE = Path(__file__).resolve().parents[1] / "datacloner" / "masking"


def _module_imports(path: Path) -> set[str]:
    """datacloner.masking modules ``path`` imports when it is imported (not in functions)."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)

    visit(ast.parse(path.read_text()).body)
    names = {f"datacloner.masking.{p.stem}" for p in PACKAGE.glob("*.py")}
    # importing a submodule imports the package (its __init__) first
    return {n for n in found if n in names} | (
        {"datacloner.masking.__init__"}
        if any(n.startswith("datacloner.masking") for n in found)
        else set()
    )


def test_masking_has_no_import_cycle() -> None:
    graph = {f"datacloner.masking.{p.stem}": _module_imports(p) for p in PACKAGE.glob("*.py")}
    done: set[str] = set()

    def walk(module: str, stack: list[str]) -> None:
        if module in stack:
            raise AssertionError(
                "import cycle: " + " -> ".join([*stack[stack.index(module) :], module])
            )
        if module in done:
            return
        for imported in graph.get(module, ()):
            if imported != module:
                walk(imported, [*stack, module])
        done.add(module)

    for module in graph:
        walk(module, [])


def test_registry_and_rules_import_no_kind() -> None:
    code = (
        "import sys, datacloner.core.rules, datacloner.masking.registry\n"
        "print(sorted(m for m in sys.modules if m.startswith('datacloner.masking.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(out.stdout))
    modules = {where.split(":")[0] for where in kinds._WHERE.values()}
    assert not loaded & modules, loaded & modules


def test_every_kind_declares_its_parts() -> None:
    for name in kinds.NAMES:
        kind = kinds.load(name)
        assert kind is not None and kind.name == name
        assert callable(kind.check)
        assert kind.value_fn is not None or kind.compile is not None, name
        if name in kinds.YAML_KINDS:  # written as a key: parses its own settings
            assert kind.parse is not None, name
    assert kinds.load("no-such-kind") is None


def test_the_scrub_kinds_are_written_once() -> None:
    assert scrub.SCRUB_KINDS is detectors.KINDS
    assert set(values.SCRUB_KINDS) <= set(detectors.KINDS)
