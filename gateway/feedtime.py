"""Feed timestamps and source versions: how the systems' change feeds date and order their items.

Transport knowledge (adapters read feeds with it) that mappings may also use; it lives outside both
so that neither imports the other (gateway/contract.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from gateway.domain.beijing import BEIJING

_TIMESTAMP = re.compile(r"(\d{4})([/-])(\d{2})\2(\d{2}) (\d{2}):(\d{2}):(\d{2})")


def parse_beijing_timestamp(raw: str) -> datetime:
    """`yyyy/MM/dd HH:mm:ss` (SJC) or `yyyy-MM-dd HH:mm:ss` (GSXT updateTime), Beijing time →
    aware UTC datetime. ValueError when malformed."""
    match = _TIMESTAMP.fullmatch(raw.strip())
    if not match:
        raise ValueError(f"not a timestamp: {raw!r}")
    y, mo, d, h, mi, s = (int(match[i]) for i in (1, 3, 4, 5, 6, 7))
    return datetime(y, mo, d, h, mi, s, tzinfo=BEIJING).astimezone(UTC)


def format_sjc(moment: datetime) -> str:
    """An aware datetime as 信用中国's `yyyy/MM/dd HH:mm:ss` in Beijing time."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(BEIJING).strftime("%Y/%m/%d %H:%M:%S")


def sjc_source_version(raw: str) -> str:
    """ISO 8601 in Beijing time. The offset is the same on every value, so text order is time
    order, and the value still reads like the SJC an operator sees on the platform."""
    return parse_beijing_timestamp(raw).astimezone(BEIJING).isoformat()


SEQ_WIDTH = 20  # int64 has 19 digits


def seq_source_version(seq: int) -> str:
    """Zero-padded so text order is numeric order."""
    if seq < 0:
        raise ValueError(f"negative seq: {seq}")
    return f"{seq:0{SEQ_WIDTH}d}"
