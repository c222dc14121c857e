"""Registering the deployments of deployments/prefect.yaml on a Prefect server, and starting runs of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

PROJECT_DIR = Path(__file__).resolve().parents[1]
PREFECT_FILE = PROJECT_DIR / "deployments" / "prefect.yaml"
WORK_POOL = "smoacs-process"


class NoServerError(RuntimeError):
    """Deployments need a Prefect server (ephemeral mode has none that outlives the command)."""


def require_server() -> str:
    url = PREFECT_API_URL.value()
    if not url:
        raise NoServerError(
            "no Prefect server: start one (`prefect server start --host 127.0.0.1`) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    return url


def ensure_work_pool(name: str = WORK_POOL) -> None:
    """Create the process work pool the deployments use, unless it exists."""
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def deploy() -> str:
    """Register every deployment of deployments/prefect.yaml; returns Prefect's output."""
    require_server()
    ensure_work_pool()
    environment = {**os.environ, "SMOACS_PROJECT_DIR": str(PROJECT_DIR)}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "prefect"), "--no-prompt", "deploy", "--all",
         "--prefect-file", str(PREFECT_FILE)],
        cwd=PROJECT_DIR, env=environment, capture_output=True, text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"prefect deploy failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return completed.stdout


def trigger(name: str, parameters: dict, wait: bool) -> FlowRun:
    """Start a run of deployment ``name`` (flow/deployment); with ``wait``, return once it has finished."""
    require_server()
    return run_deployment(name=name, parameters=parameters, timeout=None if wait else 0)


def flow_run_url(flow_run: FlowRun) -> str:
    base = PREFECT_UI_URL.value() or require_server().removesuffix("/api")
    return f"{base}/runs/flow-run/{flow_run.id}"
