"""Once per slot across replicas: a lease row per (job, slot) in `scheduled_runs` (migration 0010).

Every replica of `serve` wakes up for a scheduled job (the nightly reconciliation; later the sweep
and the reminders); the first to insert the (job, slot) row runs it, the others see the row and
skip. A replica that dies holding the row stops renewing `lease_until`; once that has passed, the
next replica to look takes the row over (`claims` counts the takeovers) and the job resumes — so a
crash never loses the night, and a slow but live holder is never run twice (it renews its lease).

The claim is one INSERT … ON CONFLICT DO NOTHING (atomic on SQLite and PostgreSQL) or one UPDATE
whose WHERE re-checks the lease (PostgreSQL re-evaluates it after the row lock, so two replicas
racing for an expired lease cannot both win).
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from gateway.domain.beijing import BEIJING
from gateway.store.database import Tx, from_db_ts

_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def process_owner() -> str:
    """A name for this process in lease rows: host, pid, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str | None) -> bool:
    """True when `owner` names a process on this host that no longer exists: its lease may be taken
    at once instead of after it expires (a CLI run killed and started again on the same machine)."""
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, another user's
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def parse_daily_time(text: str) -> time:
    """`HH:MM` (Beijing time) → a time; ValueError names the expected form."""
    match = _AT.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time of day HH:MM (Beijing time, 24-hour, e.g. 02:30)")
    return time(int(match.group(1)), int(match.group(2)), tzinfo=BEIJING)


def daily_slot(now: datetime, at: time) -> tuple[str, datetime]:
    """The latest daily slot at or before `now`: its name (the Beijing date, ISO) and its moment."""
    local = now.astimezone(BEIJING)
    moment = datetime.combine(local.date(), at.replace(tzinfo=None), tzinfo=BEIJING)
    if moment > local:
        moment -= timedelta(days=1)
    return moment.date().isoformat(), moment


def slot_of(now: datetime, interval_s: float) -> str:
    """The slot of an every-`interval_s` job that `now` falls in, named by its start (UTC, ISO),
    counted from the epoch so that every replica names it alike."""
    start = int(now.timestamp() // interval_s * interval_s)
    return datetime.fromtimestamp(start, UTC).isoformat()


def next_daily_moment(now: datetime, at: time) -> datetime:
    _, latest = daily_slot(now, at)
    return latest + timedelta(days=1)


@dataclass(frozen=True, kw_only=True)
class SlotClaim:
    job: str
    slot: str
    owner: str
    claims: int  # 1 for the first holder; more after takeovers (the job should resume)
    started_at: datetime


def claim_slot(tx: Tx, *, job: str, slot: str, owner: str, lease_until: datetime, now: datetime) -> SlotClaim | None:
    """Hold (job, slot): the claim when this process may run it now, None when the slot is done or
    another live process holds it."""
    inserted = tx.execute(
        "INSERT INTO scheduled_runs (job, slot, owner, lease_until, claims, started_at, finished_at, outcome)"
        " VALUES (?, ?, ?, ?, 1, ?, NULL, NULL) ON CONFLICT (job, slot) DO NOTHING",
        (job, slot, owner, lease_until, now),
    )
    if inserted != 1:
        taken = tx.execute(
            "UPDATE scheduled_runs SET owner = ?, lease_until = ?, claims = claims + 1"
            " WHERE job = ? AND slot = ? AND finished_at IS NULL AND lease_until < ?",
            (owner, lease_until, job, slot, now),
        )
        if taken != 1:
            return None
    row = tx.one("SELECT claims, started_at FROM scheduled_runs WHERE job = ? AND slot = ?", (job, slot))
    assert row is not None
    started = from_db_ts(row["started_at"])
    assert started is not None
    return SlotClaim(job=job, slot=slot, owner=owner, claims=int(row["claims"]), started_at=started)


def renew_slot(tx: Tx, claim: SlotClaim, *, lease_until: datetime) -> bool:
    """Extend the lease; False when the slot was taken over (this process must stop the job)."""
    return (
        tx.execute(
            "UPDATE scheduled_runs SET lease_until = ? WHERE job = ? AND slot = ? AND owner = ?"
            " AND finished_at IS NULL",
            (lease_until, claim.job, claim.slot, claim.owner),
        )
        == 1
    )


def finish_slot(tx: Tx, claim: SlotClaim, *, outcome: str, now: datetime) -> bool:
    """Mark the slot done (no replica runs it again); False when this process no longer held it."""
    return (
        tx.execute(
            "UPDATE scheduled_runs SET finished_at = ?, outcome = ? WHERE job = ? AND slot = ? AND owner = ?"
            " AND finished_at IS NULL",
            (now, outcome, claim.job, claim.slot, claim.owner),
        )
        == 1
    )


@dataclass(frozen=True, kw_only=True)
class SlotRow:
    job: str
    slot: str
    owner: str
    claims: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None


def slot_unfinished(tx: Tx, *, job: str, slot: str) -> bool:
    """Whether (job, slot) was claimed and not finished: its holder may have died (a takeover resumes it)."""
    row = tx.one("SELECT finished_at FROM scheduled_runs WHERE job = ? AND slot = ?", (job, slot))
    return row is not None and row["finished_at"] is None


def slots_of(tx: Tx, job: str) -> list[SlotRow]:
    """A job's slots, newest first (operators, tests)."""
    rows = tx.all("SELECT * FROM scheduled_runs WHERE job = ? ORDER BY slot DESC", (job,))
    out = []
    for row in rows:
        started = from_db_ts(row["started_at"])
        assert started is not None
        out.append(
            SlotRow(
                job=row["job"],
                slot=row["slot"],
                owner=row["owner"],
                claims=int(row["claims"]),
                started_at=started,
                finished_at=from_db_ts(row["finished_at"]),
                outcome=row["outcome"],
            )
        )
    return out
