"""Versioned migrations: numbered SQL files per dialect, applied once each, in order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from gateway.store.database import Database, Tx, now_utc

_NAME = re.compile(r"^(\d{4})_(\w+)\.(sqlite|postgres)\.sql$")

_BOOKKEEPING = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    "postgresql": "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
}
_FILE_SUFFIX = {"sqlite": "sqlite", "postgresql": "postgres"}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available(dialect: str) -> list[Migration]:
    suffix = _FILE_SUFFIX[dialect]
    found = []
    for entry in resources.files("gateway.store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match and match.group(3) == suffix:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def migrate(db: Database) -> list[int]:
    """Apply every migration not yet applied; returns the versions applied now."""
    dialect = db.dialect.name

    def _apply(tx: Tx) -> list[int]:
        if dialect == "postgresql":
            # Replicas starting together must not run the same migration twice.
            tx.execute("SELECT pg_advisory_xact_lock(7261001)")
        tx.execute(_BOOKKEEPING[dialect])
        done = {row["version"] for row in tx.all("SELECT version FROM schema_migrations")}
        applied = []
        for migration in available(dialect):
            if migration.version in done:
                continue
            for statement in _statements(migration.sql):
                tx.execute(statement)
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, now_utc()),
            )
            applied.append(migration.version)
        return applied

    return await db.run(_apply)


async def schema_version(db: Database) -> int:
    """Highest applied migration, read-only (0 on a database never migrated): for probes."""

    def _read(tx: Tx) -> int:
        if db.dialect.name == "sqlite":
            exists = tx.scalar(
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            )
        else:
            exists = tx.scalar("SELECT to_regclass('schema_migrations') IS NOT NULL AS n")
        if not exists:
            return 0
        return int(tx.scalar("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations") or 0)

    return await db.run(_read, write=False)


async def current_version(db: Database) -> int:
    def _read(tx: Tx) -> int:
        tx.execute(_BOOKKEEPING[db.dialect.name])
        return int(tx.scalar("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations") or 0)

    return await db.run(_read)
