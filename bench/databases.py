"""A fresh, empty gateway database per measurement, removed afterwards.

SQLite: a file in the benchmark's work directory (removed with it). PostgreSQL: a new schema on
the server at `CREDITGW_BENCH_PG_DSN` (default the local test database), reached through
`?options=-csearch_path%3D<schema>` and dropped at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

BACKENDS = ("sqlite", "postgresql")
PG_DSN = os.environ.get("CREDITGW_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def postgres_available() -> str | None:
    """None when the server answers, else why not."""
    try:
        _pg_execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


@contextlib.contextmanager
def fresh_database(backend: str, work_dir: Path, name: str, *, keep: bool = False) -> Iterator[str]:
    """Yields the database URL of an empty database (dropped afterwards unless `keep`)."""
    if backend == "sqlite":
        yield f"sqlite:///{(work_dir / f'{name}.db').resolve()}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    schema = f"bench_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    _pg_execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in PG_DSN else "?"
        yield f"{PG_DSN}{sep}options=-csearch_path%3D{schema}"
    finally:
        if keep:
            print(f"kept PostgreSQL schema {schema}", flush=True)
        else:
            _pg_execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
