"""Guards that refuse a dangerous target before anything is created on it."""

from __future__ import annotations

import fnmatch
import socket

from datacloner import urls
from datacloner.errors import Refused


def _addresses(host: str) -> set[str]:
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return set()


def refuse_protected(target_url: str, protected: tuple[str, ...]) -> None:
    """A target whose host matches a ``protected`` glob is refused; a literal
    protected host also protects its addresses (db.prod.internal vs 10.0.0.5)."""
    host = (urls.parse(target_url).host or "").lower()
    if not host or not protected:
        return
    for pattern in protected:
        pattern = pattern.lower()
        if fnmatch.fnmatchcase(host, pattern):
            raise Refused(
                f"the target host {host} is protected (matches `{pattern}` in `protected:`)",
                hint="protected hosts can never be a target; pick another environment URL",
            )
        if not any(c in pattern for c in "*?[") and _addresses(pattern) & _addresses(host):
            raise Refused(
                f"the target host {host} is the protected host {pattern} under another name",
                hint="protected hosts can never be a target; pick another environment URL",
            )


def refuse_source(source: dict[str, str], target: dict[str, str]) -> None:
    """A target that is the source database, whatever the URL's spelling, is
    refused: servers are compared by identity, not by host name."""
    same_server = bool(source.get("cluster")) and source.get("cluster") == target.get("cluster")
    if same_server and source.get("database") == target.get("database"):
        raise Refused(
            f"the target is the source database {source.get('database')!r}: refusing to "
            "overwrite production",
            hint="check the environment's URL in datacloner.yml",
        )
