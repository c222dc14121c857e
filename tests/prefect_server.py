"""A real `prefect server` for end-to-end tests: own home directory, loopback only, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

PREFECT = str(Path(sys.executable).parent / "prefect")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # Prefect stops on SIGTERM (not reliably on SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def prefect_server(home: Path, timeout: float = 120.0):
    """Yield the environment (PREFECT_API_URL, PREFECT_HOME, ...) of a fresh server."""
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment.update(
        PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api", PREFECT_UI_URL=f"http://127.0.0.1:{port}",
    )
    log = open(home.parent / "prefect-server.log", "w")
    process = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            _stop(process)
            raise RuntimeError(f"prefect server did not start; see {log.name}")
        time.sleep(0.5)
    try:
        yield environment
    finally:
        _stop(process)
        log.close()


@contextmanager
def prefect_worker(environment: dict, pool: str, cwd: Path):
    """A process worker polling ``pool``."""
    log = open(cwd / "prefect-worker.log", "w")
    process = subprocess.Popen([PREFECT, "worker", "start", "--pool", pool], env=environment, cwd=cwd,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        _stop(process)
        log.close()
