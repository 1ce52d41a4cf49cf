"""`datacloner check`: the CI gate."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from datacloner.cli.app import ConfigOption, app, config_from, out, run, warn
from datacloner.core.errors import CheckFailed, DataclonerError
from datacloner.core.redaction import scrub_data
from datacloner.runtime import refresh as runtime
from datacloner.runtime.scan import DEFAULT_SAMPLE, kept_warning


def _findings(config: ConfigOption, strict: bool, sample: int) -> dict[str, Any]:
    """Every finding, as data: printed for people or as JSON for machines."""
    result = runtime.check(config_from(config), scan_sample=sample)
    plan = result.plan
    failures = [kept_warning(f) for f in result.kept_personal] if strict else []
    warnings = list(plan.warnings) + (
        [] if strict else [kept_warning(f) for f in result.kept_personal]
    )
    if strict and plan.warnings:
        failures += [f"strict: {w}" for w in plan.warnings]
    return {
        "ok": not failures,
        "exit_code": 1 if failures else 0,
        "tables": len(plan.tables),
        "schema_only": len(plan.tables) - len(plan.copied),
        "masked_columns": sum(len(t.masked_columns) for t in plan.tables),
        "errors": failures,
        "warnings": warnings,
        "kept_but_personal": [f.to_dict() for f in result.kept_personal],
        "unclassified": {},
        "subsets": result.subsets,  # environment -> start tables, pulls, estimated rows
    }


@app.command()
def check(
    config: ConfigOption = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="warnings are failures: the CI gate"),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print findings as JSON")] = False,
    sample: Annotated[
        int,
        typer.Option(
            "--sample",
            min=0,
            help="rows sampled per table to spot personal kept "
            "columns (0: names and types only... and no sampling); "
            "the same rows and verdicts as scan's",
        ),
    ] = DEFAULT_SAMPLE,
) -> None:
    """Validate config and rules against the live source; exit 1 on a failed check."""
    if json_out:
        try:
            report = _findings(config, strict, sample)
        except DataclonerError as exc:
            report = {
                "ok": False,
                "exit_code": exc.exit_code,
                "errors": exc.message.splitlines(),
                "hint": exc.hint,
                **exc.details,
            }
        print(json.dumps(scrub_data(report), indent=2))  # no secret or ${VAR} value
        raise typer.Exit(report["exit_code"])

    def step() -> dict[str, Any]:
        report = _findings(config, strict, sample)
        for warning in report["warnings"]:
            warn(warning)
        if report["errors"]:
            raise CheckFailed(
                "check --strict failed:\n  " + "\n  ".join(report["errors"]),
                hint="mask each column, or keep it with a reason in the rules",
            )
        return report

    report = run(step)
    for environment, lines in report["subsets"].items():
        out.print(f"subset of {environment}:", markup=False, highlight=False)
        for line in lines:
            out.print(f"  {line}", markup=False, highlight=False)
    out.print(
        f"ok: {report['tables']} tables ({report['schema_only']} schema only), "
        f"{report['masked_columns']} masked columns, every column classified"
    )
