"""`smoacs run` and `smoacs results` as users run them: real processes, ephemeral Prefect, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

SMOACS = str(Path(sys.executable).parent / "smoacs")


def _environment(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def _smoacs(args, tmp_path, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([SMOACS, *args], cwd=tmp_path, env=_environment(tmp_path), capture_output=True,
                          text=True, timeout=timeout)


def _candidate_count(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


@pytest.mark.slow
def test_default_run_then_results_commands(tmp_path):
    """`smoacs run` with no argument runs the shipped demo configuration on embedded defaults."""
    completed = _smoacs(["run"], tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    listing = _smoacs(["results", "list"], tmp_path)
    assert listing.returncode == 0 and "perovskite-demo" in listing.stdout
    export = _smoacs(["results", "export", "--format", "csv", "--out", "all.csv"], tmp_path)
    assert export.returncode == 0, export.stderr
    table = pd.read_csv(tmp_path / "all.csv")
    assert len(table) == 64 and table["id"].is_unique
    run_id = table["run_id"][0]
    show = _smoacs(["results", "show", run_id], tmp_path)
    assert show.returncode == 0 and "success rate" in show.stdout
    assert (tmp_path / "results" / run_id / "report" / "report.md").exists()


def test_first_run_on_a_new_prefect_home_succeeds(tmp_path):
    """A fresh machine: no Prefect home yet, so the temporary server first sets up its database; the run
    must wait for it (Prefect's own 20 s limit lost that race on a busy machine)."""
    (tmp_path / "run.yaml").write_text(
        "name: first-run\nstages: [sample, optimize]\n"
        "initial: {kind: perovskite_templates, count: 2}\noptimization: {mode: perovskite, steps: 5}\n"
    )
    assert not (tmp_path / "prefect-home").exists()
    completed = _smoacs(["run", "run.yaml"], tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Starting temporary server" in completed.stderr and "2 candidates" in completed.stdout + completed.stderr
    assert (tmp_path / "prefect-home" / "prefect.db").exists()


def test_a_prefect_server_that_does_not_start_is_a_clear_error(tmp_path):
    """When the temporary server still does not answer in time, the message names the remedies."""
    (tmp_path / "run.yaml").write_text("name: no-server\nstages: [sample]\n")
    env = {**_environment(tmp_path), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1"}
    completed = subprocess.run([SMOACS, "run", "run.yaml"], cwd=tmp_path, env=env, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 1
    message = " ".join(completed.stderr.split())
    assert "did not answer within 1 s" in message and "prefect server start" in message
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in message


def test_results_without_a_store_is_a_clear_error(tmp_path):
    completed = _smoacs(["results", "list"], tmp_path, timeout=120)
    assert completed.returncode == 2 and "no results store" in completed.stderr


def test_bad_configuration_fails_before_any_work(tmp_path):
    (tmp_path / "bad.yaml").write_text("optimization: {steps: 5, learning_rate: 3}\n")
    completed = _smoacs(["run", "bad.yaml"], tmp_path, timeout=120)
    assert completed.returncode == 2 and "learning_rate" in completed.stderr
    assert not (tmp_path / "results").exists()


def test_missing_reference_data_fails_before_any_work(tmp_path):
    """The shipped run de-duplicates against MP-20 and places candidates on its hull: without the data
    directory it stops at once, naming what is missing, instead of after the optimization."""
    env = {k: v for k, v in _environment(tmp_path).items() if k != "SMOACS_DATA_DIR"}
    completed = subprocess.run([SMOACS, "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and "novelty.reference" in completed.stderr
    assert "SMOACS_DATA_DIR" in completed.stderr and not (tmp_path / "results").exists()


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_or_duplicating(tmp_path):
    (tmp_path / "run.yaml").write_text(
        "name: resume-test\n"
        "initial: {kind: perovskite_templates, count: 12, seed: 2}\n"
        "optimization: {mode: perovskite, steps: 150}\n"
        "batch_size: 3\n"
    )
    database = tmp_path / "results" / "smoacs.sqlite"
    log = tmp_path / "killed-run.log"
    with log.open("w") as output:
        process = subprocess.Popen([SMOACS, "run", "run.yaml"], cwd=tmp_path, env=_environment(tmp_path),
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 600
    while _candidate_count(database) < 3 and time.time() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the run exited ({process.returncode}) before its first batch landed:\n"
                        f"{log.read_text()[-3000:]}")
        time.sleep(0.2)
    time.sleep(1.0)  # let the finished batch's cache record land; the next batch is mid-optimization
    done_before_kill = _candidate_count(database)
    if process.poll() is not None:
        pytest.fail(f"the run ended ({process.returncode}) before it could be killed:\n{log.read_text()[-3000:]}")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 3 <= done_before_kill < 12, "the kill should land in the middle of the optimization stage"

    completed = _smoacs(["run", "run.yaml"], tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    with sqlite3.connect(database) as connection:
        ids = [row[0] for row in connection.execute("SELECT id FROM candidates")]
        summary = json.loads(connection.execute("SELECT summary FROM runs").fetchone()[0])
        status = connection.execute("SELECT status FROM runs").fetchone()[0]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert status == "completed"
    states = summary["batches"]
    cached = [batch for batch, state in states.items() if state == "Cached"]
    assert len(cached) >= 1 and len(cached) <= done_before_kill // 3
    assert all(state in ("Cached", "Completed") for state in states.values())
