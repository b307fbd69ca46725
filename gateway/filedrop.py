"""The file-drop feed's shared vocabulary (docs/protocols.md §10–§11, docs/adr/0027).

A file-drop adapter (adapters/filedrop.py) turns consecutive full snapshots into changes; two kinds
of item are its own and not a department's row, so both sides must name them alike without
importing each other (gateway/contract.py):

- a **file incident**: a file the transport refused (wrong encoding, not the template) or gave up
  on (it never completed). It is a change of kind `FILE_INCIDENT_KIND` whose row describes the file;
  a mapping raises `UnmappableRow` for it, so it lands in the visible quarantine with its reason.
- a row **absent** from a later snapshot: the last row the previous snapshot held for that key,
  marked with `ABSENT_FROM` (the name of the first file without it). The file says neither why nor
  when the row went; the list's mapping decides what the absence means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FILE_INCIDENT_KIND = "file"
ABSENT_FROM = "_absent_from"  # row member: the file from which the key was missing

# File incidents: what went wrong (the incident row's `problem`).
WRONG_ENCODING = "wrong_encoding"
NOT_THE_TEMPLATE = "not_the_template"
INCOMPLETE = "incomplete"


def incident_message(row: Mapping[str, Any]) -> str:
    """One line for the quarantine: which file, what is wrong with it, what happened to it."""
    return (
        f"file {row.get('name')!s} (sha256 {str(row.get('sha256', ''))[:12]}…, {row.get('size')} bytes)"
        f" {row.get('outcome')}: {row.get('reason')}"
    )
