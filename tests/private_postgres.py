"""A PostgreSQL server of a test's own (initdb + pg_ctl in a temporary directory, on a free port),
for tests that stop and start the database under the gateway. The shared server on 5432 is never
touched. The server runs as the `postgres` user (initdb refuses root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.processes import LOCALHOST, free_port


def server_binaries() -> Path | None:
    """The newest PostgreSQL server's bin directory on this machine, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


def unavailable() -> str | None:
    """Why a private server cannot be started here, or None."""
    if server_binaries() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0 and _postgres_user() is None:
        return "running as root without a postgres user to run the server as"
    return None


class PrivatePostgres:
    def __init__(self, root: Path) -> None:
        binaries = server_binaries()
        assert binaries is not None
        self.bin = binaries
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@{LOCALHOST}:{self.port}/postgres"

    def _run(self, *argv: str, timeout_s: float = 120.0) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        assert done.returncode == 0, f"{argv[0]} failed ({done.returncode}): {done.stdout}\n{done.stderr}"

    def init(self) -> None:
        user = _postgres_user()
        if os.geteuid() == 0 and user is not None:
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={LOCALHOST} -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "120",
            "start",
        )

    def kill(self) -> None:
        """Stop at once, as a crash or a lost network would: connections are cut, nothing waits."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "120", "stop")


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    # Not pytest's tmp_path: its directories are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="creditgw-pg-"))
    root.chmod(0o755)
    server = PrivatePostgres(root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            server.kill()
        shutil.rmtree(root, ignore_errors=True)
