"""End to end: a real `prefect server`, deployments registered and triggered from the CLI, a process worker,
and a headless Chromium screenshot of the finished run's page in the Prefect UI (kept in test-artifacts/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prefect_server import prefect_server, prefect_worker

SMOACS = str(Path(sys.executable).parent / "smoacs")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--virtual-time-budget=20000",
    "--run-all-compositor-stages-before-draw", "--window-size=1400,1000",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("Chromium is not installed (.ci/run installs Debian's chromium)")


def test_prefect_yaml_declares_the_pipeline_deployments():
    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "deployments" / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert deployments["nightly-discovery"]["schedules"][0]["cron"] == "0 2 * * *"
    assert deployments["dft-harvest"]["schedules"][0]["interval"] <= 3600
    for deployment in deployments.values():
        module, _, function = deployment["entrypoint"].partition(":")
        source = (Path(__file__).resolve().parents[2] / module).read_text()
        assert f"def {function}(" in source


@pytest.mark.slow
def test_deployment_triggered_from_the_cli_completes_and_shows_in_the_ui(tmp_path):
    home = tmp_path / "prefect-home"
    home.mkdir()
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump({
        "name": "e2e", "results_dir": str(tmp_path / "results"),
        "initial": {"kind": "perovskite_templates", "count": 4}, "optimization": {"mode": "perovskite", "steps": 5},
        "batch_size": 2,
    }))
    with prefect_server(home) as environment:
        deployed = subprocess.run([SMOACS, "deploy"], env=environment, capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stderr[-2000:]
        assert "nightly-discovery" in deployed.stdout and "dft-harvest" in deployed.stdout
        with prefect_worker(environment, "smoacs-process", tmp_path):
            triggered = subprocess.run(
                [SMOACS, "trigger", "discovery/nightly-discovery", "--config", str(config), "--wait"],
                env=environment, capture_output=True, text=True, timeout=600,
            )
        assert triggered.returncode == 0, triggered.stdout + triggered.stderr[-2000:]
        assert "Completed" in triggered.stdout
        url = triggered.stdout.strip().splitlines()[-1]
        assert url.startswith(environment["PREFECT_UI_URL"] + "/runs/flow-run/")

        profile = tmp_path / "chromium-profile"
        page = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=120)
        assert "Completed" in page.stdout and "discovery" in page.stdout
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "prefect-ui-flow-run.png"
        subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}", url],
                       capture_output=True, timeout=120, check=True)
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
    assert (tmp_path / "results").is_dir()
