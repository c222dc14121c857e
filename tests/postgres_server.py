"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temporary directory, loopback only."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    """initdb refuses to run as root; run the server as the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextmanager
def postgres_server():
    """Yield a SQLAlchemy URL of a fresh PostgreSQL server; stop and delete it afterwards."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        raise RuntimeError("PostgreSQL (initdb, pg_ctl) is not installed; .ci/run installs it")
    directory = Path(tempfile.mkdtemp(prefix="smoacs-pg-"))
    data = directory / "data"
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    port = _free_port()
    subprocess.run(_as_postgres(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1"
    subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-o", options, "-w", "-l", str(directory / "log"),
                                 "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)
