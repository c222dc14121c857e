"""The stage step functions that the command line and the Prefect tasks share, on the real models.

The same initial crystals give the same candidates whichever front door runs them; a run's batch gets the
store ids and records, a standalone optimization the short ids.
"""

from __future__ import annotations

import pandas as pd
import pytest
from prefect.logging import disable_run_logger
from typer.testing import CliRunner

from smoacs_cli.app import app
from smoacs_core.config import OptimizationConfig
from smoacs_core.stages import StructureStage
from smoacs_core.steps.optimize import OptimizeInput, optimize
from smoacs_core.steps.sample import InitialStructures, sample
from smoacs_core.store import ResultsStore
from smoacs_core.templates import perovskite_cells
from tasks.optimize import optimize_batch

CONFIG = OptimizationConfig.preset("perovskite", steps=10, seed=0)


def test_optimize_step_writes_files_and_store_records(tmp_path, predictors):
    cells = perovskite_cells(3, seed=4)
    request = OptimizeInput(structures=cells, config=CONFIG, out=tmp_path / "batch", batch=2, id_prefix="run-b0002-")
    optimized = optimize(request, predictors)
    table = pd.read_csv(tmp_path / "batch" / "candidates.csv")
    assert list(table["candidate_id"]) == [f"run-b0002-{i}" for i in table["id"]]
    assert [r.id for r in optimized.records] == list(table["candidate_id"])
    record = optimized.records[0]
    assert record.batch == 2 and record.stage == StructureStage.OPTIMIZED and record.template == cells[0][0]
    assert set(record.structures) == {"initial", "optimized"}
    assert {p.name for p in record.properties} >= {"band_gap", "formation_energy", "tolerance_factor"}
    assert record.criteria["success"] == bool(table.loc[0, "success"]) and "neutral" in record.criteria
    assert optimized.success_rate == pytest.approx(table["success"].mean())


def test_command_line_and_pipeline_task_give_the_same_candidates(tmp_path, predictors):
    """`smoacs optimize` and the pipeline's batch task run the same step: the same cells, the same numbers."""
    cli_out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["optimize", "--n", "3", "--steps", "10", "--seed", "0", "--out", str(cli_out)])
    assert result.exit_code == 0, result.output
    initial = sample(InitialStructures(count=3, seed=0), CONFIG, tmp_path / "run" / "initial")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    ResultsStore(url).start_run("run", "steps", {}, {})
    with disable_run_logger():
        batch = optimize_batch.fn("run", 0, initial.structures, CONFIG, str(tmp_path / "run"), url)
    from_cli = pd.read_csv(cli_out / "candidates.csv")
    from_task = pd.read_csv(batch.candidates_csv.path)
    assert list(from_task["formula"]) == list(from_cli["formula"])
    for column in ("band_gap", "formation_energy", "tolerance_factor"):
        assert from_task[column].to_numpy() == pytest.approx(from_cli[column].to_numpy(), abs=1e-5)
    assert ResultsStore(url).candidates("run")["id"].tolist() == batch.candidate_ids
