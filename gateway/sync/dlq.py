"""Dead letters: list, show, replay.

Replay is per target, in id order, one dead letter per transaction, so an interrupted replay is
resumed by running it again (what was replayed is no longer dead). A loop guard refuses a dead
letter that has already been replayed `max_replays` times unless forced: a delivery that keeps
dying needs a person, not another lap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from gateway.store.database import Tx
from gateway.store.group import GroupCommitter
from gateway.store.repo import OutboxItem, OutboxStatus, Repo


@dataclass
class ReplayReport:
    dry_run: bool
    replayed: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)  # a newer version already took over
    guarded: list[int] = field(default_factory=list)  # loop guard: replayed too often
    missing: list[int] = field(default_factory=list)  # not a dead letter (any more)
    last_id: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "replayed": self.replayed,
            "superseded": self.superseded,
            "guarded": self.guarded,
            "missing": self.missing,
            "last_id": self.last_id,
        }


def replay_one(tx: Tx, item_id: int, *, dry_run: bool, force: bool, max_replays: int, now: datetime) -> str:
    repo = Repo(tx)
    item = repo.get_outbox(item_id)
    if item is None or item.status != OutboxStatus.DEAD:
        return "missing"
    repo.lock_records([item.record_id])  # serialise with every other unit on the record (ADR 0012)
    newest = repo.delivered_version(item.record_id, item.target)
    if newest is not None and newest >= item.version:
        if not dry_run:
            repo.mark_dead_superseded(item, now)
        return "superseded"
    if item.replays >= max_replays and not force:
        return "guarded"
    if not dry_run:
        repo.revive(item, now)
    return "replayed"


async def replay(
    committer: GroupCommitter,
    *,
    now: datetime,
    target: str | None = None,
    ids: list[int] | None = None,
    after_id: int = 0,
    limit: int = 1000,
    dry_run: bool = False,
    force: bool = False,
    max_replays: int = 5,
) -> ReplayReport:
    report = ReplayReport(dry_run=dry_run)
    if ids is None:
        items: list[OutboxItem] = await committer.submit(
            lambda tx: Repo(tx).list_outbox(status=OutboxStatus.DEAD, target=target, after_id=after_id, limit=limit)
        )
        ids = [item.id for item in items]
    for item_id in ids:
        verdict = await committer.submit(
            partial(replay_one, item_id=item_id, dry_run=dry_run, force=force, max_replays=max_replays, now=now)
        )
        getattr(report, verdict).append(item_id)
        report.last_id = max(report.last_id, item_id)
    return report
