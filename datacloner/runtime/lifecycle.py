"""Runtime of the verbs that work on an environment's generations without a
source: ``rollback`` and ``status``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from datacloner.core import guards, urls
from datacloner.core.config import Config
from datacloner.engines.registry import engine_for
from datacloner.runtime.refresh import policy_for


@dataclass
class Generation:
    name: str
    role: str  # current | previous | previous 2 ...
    manifests: list[dict[str, Any]]

    @property
    def latest(self) -> dict[str, Any]:
        return self.manifests[0] if self.manifests else {}


def rollback(config: Config, environment: str, drain_timeout: float | None = None) -> list[str]:
    url = config.environment(environment).url
    guards.refuse_protected(url, config.protected)
    return engine_for(url).rollback(url, policy_for(config, environment, drain_timeout))


def _role(name: str) -> str:
    """Named by the generation suffixes the engines use (__dc_prev2, .prev2)."""
    found = re.search(r"(?:__dc_prev|\.prev)(\d*)$", name)
    if found is None:
        return "current"
    return "previous" + (f" {found.group(1)}" if found.group(1) else "")


def status(config: Config, environment: str) -> list[Generation]:
    url = config.environment(environment).url
    return [Generation(n, _role(n), m) for n, m in engine_for(url).generations(url)]


def describe_target(config: Config, environment: str) -> str:
    return urls.redact(config.environment(environment).url)
