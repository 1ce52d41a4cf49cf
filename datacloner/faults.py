"""Named moments of a refresh where the crash-safety tests kill the process.

``DATACLONER_PAUSE_AT=<moment>`` makes the run write ``<moment>`` to
``$DATACLONER_PAUSE_FILE`` and wait there until it is killed. Unset (always,
outside those tests), ``checkpoint`` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time

MOMENTS = ("pre-data", "data", "post-data", "hooks", "swap")


def checkpoint(moment: str) -> None:
    if os.environ.get("DATACLONER_PAUSE_AT") != moment:
        return
    marker = os.environ.get("DATACLONER_PAUSE_FILE")
    if marker:
        with open(marker, "w") as out:
            out.write(moment)
    while True:  # until the test kills us
        time.sleep(1)
