"""`datacloner dump FILE`, `datacloner restore FILE --to ENV` and
`datacloner keygen` (the key pair that signs archives)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datacloner.cli.app import (
    ConfigOption,
    DrainTimeoutOption,
    JsonOption,
    YesOption,
    app,
    config_from,
    err,
    run,
    warn,
)
from datacloner.cli.refresh import confirmer, print_report, stopped_during_build
from datacloner.core.progress import ProgressSink, QuietProgress, RichProgress
from datacloner.core.report import Report
from datacloner.runtime import archive as archiving


def _progress(json_out: bool) -> ProgressSink:
    return QuietProgress() if json_out else RichProgress(err)


@app.command()
def dump(
    file: Annotated[Path, typer.Argument(help="archive to write, e.g. snapshot.dcz")],
    config: ConfigOption = None,
    json_out: JsonOption = False,
    unsigned: Annotated[
        bool,
        typer.Option(
            "--unsigned", help="write it without a signature (restore then needs --allow-unsigned)"
        ),
    ] = False,
) -> None:
    """Write a portable, already-masked archive of the source, signed (DATACLONER_ARCHIVE_KEY)."""

    def step() -> Report:
        progress = _progress(json_out)
        try:
            return archiving.dump(config_from(config), file, progress, unsigned=unsigned)
        finally:
            progress.close()

    print_report(run(step), json_out, title=f"dumped to {file}")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="archive written by `datacloner dump`")],
    to: Annotated[str, typer.Option("--to", help="environment to restore into")],
    config: ConfigOption = None,
    yes: YesOption = False,
    json_out: JsonOption = False,
    drain_timeout: DrainTimeoutOption = None,
    allow_unsigned: Annotated[
        bool,
        typer.Option(
            "--allow-unsigned",
            help="restore an archive without a signature (or without the public key to check it)",
        ),
    ] = False,
) -> None:
    """Restore a signed archive into ENV through the same atomic swap (no source, no secret)."""

    def step() -> Report:
        stopped_during_build(to)
        progress = _progress(json_out)
        try:
            return archiving.restore(
                config_from(config),
                file,
                to,
                progress,
                confirmer(yes),
                drain_timeout,
                allow_unsigned=allow_unsigned,
                warn=warn,
            )
        finally:
            progress.close()

    print_report(run(step), json_out, title=f"restored {file} into {to}")


@app.command()
def keygen() -> None:
    """Print a new Ed25519 key pair for signing archives, as two environment variables."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from datacloner.archive import sign as archive_sign

    key = Ed25519PrivateKey.generate()
    err.print(
        f"keep {archive_sign.PRIVATE_ENV} secret, in the job that dumps only; "
        f"{archive_sign.PUBLIC_ENV} goes wherever archives are restored",
        highlight=False,
    )
    print(f"{archive_sign.PRIVATE_ENV}={archive_sign.encode_private(key)}")
    print(f"{archive_sign.PUBLIC_ENV}={archive_sign.encode_public(key.public_key())}")
