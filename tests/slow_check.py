"""A test-only check, added through the `extra_checks` setting, that holds a submission in
scoring long enough for a test to kill the server, fill the queue, or cut the database."""

from __future__ import annotations

import os
import time

from moderation.checks.base import BOTH_DESTINATIONS, Check, Observation
from moderation.intake import PreparedSubmission


class SlowCheck(Check):
    name = "slow"
    version = "test"
    destinations = BOTH_DESTINATIONS

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        time.sleep(float(os.environ.get("SLOW_CHECK_SECONDS", "2")))
        return [Observation("description", 0.0, "waited")]
