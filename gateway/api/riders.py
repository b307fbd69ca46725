"""What a signed decision leaves beside its own rows: its nonce and its call-audit row, written in
the decision's unit (docs/adr/0031-nonce-and-audit-ride-with-the-decision.md).

For most routes the auth middleware stores the nonce before the handler runs and the audit row
after it answered: two more transactions. `POST /v1/repairs` is the hot path, and those two
transactions cost it as much as the decision (bench/README.md, `bench.accept_ratio`). So there the
middleware checks the signature first, as everywhere, and hands the nonce and the audit row to the
handler as `Riders`; the unit that answers the decision (a batch of them or one alone) checks the
nonce, refuses a used one (`NonceReplayed`: 401, nothing written) and writes both rows with its
own. Whatever did not get that far (a 4xx before the decision was submitted, a refused decision)
is stored by the middleware afterwards, as on every other route, so every nonce is used once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.clients import CallAudit, ClientStore, NonceUse
from gateway.store.database import Tx


class NonceReplayed(Exception):
    """The request's nonce was already used by this client: answered 401, nothing written."""

    def __init__(self, client_id: str) -> None:
        super().__init__("replayed_nonce")
        self.client_id = client_id


@dataclass(kw_only=True)
class Riders:
    """One request's nonce (None: an unsigned request) and its call-audit row, until written."""

    client_id: str
    nonce: NonceUse | None
    audit: CallAudit
    purge_nonces: bool = False  # this replica's turn to delete expired nonces
    written: bool = False  # a committed unit held them (set by whoever awaited that unit)


def replayed(tx: Tx, riders: Sequence[Riders | None]) -> list[bool]:
    """Per rider, whether its nonce is used already: stored, or earlier in the same list. One
    statement per client (nearly always one per batch)."""
    wanted: dict[str, list[str]] = {}
    for rider in riders:
        if rider is not None and rider.nonce is not None:
            wanted.setdefault(rider.client_id, []).append(rider.nonce.nonce)
    store = ClientStore(tx, None)
    used = {(client, nonce) for client, nonces in wanted.items() for nonce in store.used_nonces(client, nonces)}
    out = []
    for rider in riders:
        if rider is None or rider.nonce is None:
            out.append(False)
            continue
        pair = (rider.client_id, rider.nonce.nonce)
        out.append(pair in used)
        used.add(pair)
    return out


def write(tx: Tx, answered: Sequence[tuple[Riders, int]], at: datetime) -> None:
    """The nonces and the audit rows (for a 2xx answer) of answered requests, one statement each.
    A nonce another replica stored since `replayed` read raises UniqueViolation: the unit fails
    and its requests are run again alone, where `write_one` names the replay."""
    store = ClientStore(tx, None)
    store.use_nonces([rider.nonce for rider, _ in answered if rider.nonce is not None])
    store.audit_calls([(rider.audit, status) for rider, status in answered if 200 <= status < 300], at)
    if any(rider.purge_nonces for rider, _ in answered):
        store.purge_nonces(at)


def check_one(tx: Tx, rider: Riders | None) -> None:
    """Raises NonceReplayed before a lone unit does anything else."""
    if rider is not None and replayed(tx, [rider])[0]:
        raise NonceReplayed(rider.client_id)
