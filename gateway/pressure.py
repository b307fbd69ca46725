"""What the gateway knows of its own load and health, and how its loops wait out a lost database.

`Pressure` is read by the API before any work (gateway/api/pressure.py): a draining process, a
database that does not answer, or more backlog than the settings allow is refused with 503 and
Retry-After, so the gateway never accepts faster than it can deliver. `Outage` keeps a background
loop quiet while the database is away: one line when the outage starts, one when it ends, and waits
that grow in between (docs/adr/0021-shed-drain-and-database-loss.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.observability import get_logger
from gateway.settings import Settings

log = get_logger("creditgw.pressure")

OVERLOADED = "overloaded"
SHUTTING_DOWN = "shutting_down"
DATABASE_UNAVAILABLE = "database_unavailable"


@dataclass(frozen=True)
class Refusal:
    code: str  # the error code and the shed metric's reason
    message: str


class Pressure:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.draining = False
        self.database_up = True
        self.outbox_pending = 0  # as last read (Runtime.check_pressure)

    def refusal(self, *, write: bool, commit_queue: int) -> Refusal | None:
        """Why a request must not start now, or None. Reads are refused only without a database."""
        if write and self.draining:
            return Refusal(SHUTTING_DOWN, "the gateway is shutting down: retry (another replica will answer)")
        if not self.database_up:
            return Refusal(DATABASE_UNAVAILABLE, "the database does not answer: retry later")
        if not write:
            return None
        bound = self.settings.overload_outbox_pending
        if bound and self.outbox_pending >= bound:
            return Refusal(OVERLOADED, f"{self.outbox_pending} deliveries wait to be sent: retry later")
        bound = self.settings.overload_commit_queue
        if bound and commit_queue >= bound:
            return Refusal(OVERLOADED, f"{commit_queue} writes wait for a commit: retry later")
        return None


class Outage:
    """One background loop's view of a lost database: logged when it starts and when it ends (not at
    every failure), and a wait that doubles per failure up to `max_s`."""

    def __init__(self, loop: str, *, max_s: float = 30.0) -> None:
        self.loop = loop
        self.max_s = max_s
        self.failures = 0

    def failed(self, error: Exception, base_s: float) -> float:
        """Count a failure; returns how long the loop waits before its next attempt."""
        self.failures += 1
        if self.failures == 1:
            log.warning("database_unavailable", loop=self.loop, error=str(error)[:200])
        return min(self.max_s, max(base_s, 0.1) * 2.0 ** min(self.failures, 16))

    def succeeded(self) -> None:
        if self.failures:
            log.info("database_back", loop=self.loop, failed_attempts=self.failures)
            self.failures = 0
