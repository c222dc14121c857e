"""The closed loop end to end on real parts: real GPAW labels as round 0's training set, SMOACS through the
trained correction, DFT picks by acquisition computed by real GPAW, and round 1 learning from round 0's result.
Each round runs the whole GPAW pipeline (SMOACS -> M3GNet pre-relaxation -> GPAW -> report)."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from flows.closed_loop import ClosedLoopConfig, closed_loop, round_config
from smoacs_cli.app import app
from smoacs_core.correction.versions import correction_record
from smoacs_core.store import ResultsStore, default_store_url

TINY_GPAW = {"spin": "off", "max_steps": 0, "ecut": 250, "reciprocal_density": 20, "pulay_correction": False,
             "band_gap_method": "mesh", "mesh_reciprocal_density": 40, "timeout_seconds": 900}
"""Test-sized GPAW: the gap at the ML-relaxed geometry on a coarse mesh (a real calculation, in seconds)."""


def loop_settings(tmp_path, labels_file) -> dict:
    return {
        "name": "loop-test", "rounds": 2, "labels": [str(labels_file)], "exploration_share": 0.0,
        "correction": {"members": ["megnet-bandgap-pbe", "cgcnn-bandgap"], "ensemble_size": 5, "steps": 150},
        "discovery": {
            "results_dir": str(tmp_path / "results"),
            "stages": ["sample", "optimize", "prerelax", "dft_submit", "dft_harvest", "report"],
            "initial": {"kind": "perovskite_templates", "count": 3, "seed": 5, "length_range": (3.6, 4.6)},
            "optimization": {"mode": "perovskite", "steps": 30}, "prerelax": {"max_steps": 30}, "batch_size": 3,
            "dft": {"code": "gpaw", "candidates": 1, "gpaw": TINY_GPAW},
        },
    }


@pytest.fixture
def labels_file(tmp_path, gpaw_labels_file):
    """30 real GPAW labels from 4 of the benchmark's checks (so cross-validation has groups to leave out)."""
    document = json.loads(gpaw_labels_file.read_text())
    groups = list(dict.fromkeys(label["group"] for label in document["labels"]))[:4]
    document["labels"] = [label for label in document["labels"] if label["group"] in groups][:30]
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.slow
def test_two_rounds_learn_from_their_own_dft_and_resume(tmp_path, monkeypatch, labels_file, model_dir):
    monkeypatch.setenv("SMOACS_TRAINED_MODEL_DIR", str(tmp_path / "trained"))
    config = ClosedLoopConfig.model_validate(loop_settings(tmp_path, labels_file))
    rounds = closed_loop(config)

    store = ResultsStore(default_store_url(tmp_path / "results"))
    first, second = rounds
    # each round is the whole GPAW pipeline: stored, labelled and reported as GPAW, never as VASP
    calculations = store.dft_calculations(first.run_id)
    assert list(calculations["code"]) == ["GPAW"] and list(calculations["status"]) == ["completed"]
    assert [label[:8] for label in store.run(first.run_id).summary["dft"]["labels"]] == ["GPAW-PBE"]
    (label,) = [label for label in store.labels() if label.group == first.run_id]  # every DFT gap is a label
    assert (label.code, label.source, label.name) == ("GPAW", f"run {first.run_id}", calculations["candidate_id"][0])
    assert label.settings["ecut"] == 250 and label.settings["max_steps"] == 0
    report = (config.discovery.results_dir / first.run_id / "report" / "report.md").read_text()
    assert "GPAW-PBE" in report and "VASP-" not in report and "DFT-confirmed" in report
    usable = len(correction_record(first.predictor.removeprefix("dft-correction/")).label_ids)
    assert first.trained_on == usable >= 25 and first.predictor.startswith("dft-correction/band_gap-")
    run = store.candidates(first.run_id)
    picked = run[run["dft.band_gap"].notna()]
    assert first.outcome.picks == len(picked) == 1  # one GPAW check per round
    assert picked["prerelaxed.acquisition_mean"].notna().all()  # what the round's model said before DFT
    assert first.outcome.prospective_mae == pytest.approx(
        abs(picked["prerelaxed.acquisition_mean"] - picked["dft.band_gap"]).iloc[0], abs=1e-9)
    # round 1 learned from round 0's GPAW result, and only from it (never from its own)
    assert second.trained_on == first.trained_on + 1 and second.predictor != first.predictor
    record = correction_record(second.predictor.removeprefix("dft-correction/"))
    own = {label.label_id for label in store.labels() if label.group == second.run_id}
    earlier = {label.label_id for label in store.labels() if label.group == first.run_id}
    assert len(earlier) == 1 and earlier <= set(record.label_ids) and not own & set(record.label_ids)
    assert store.run(second.run_id).config["optimization"]["targets"][0]["predictor"] == second.predictor
    selection = (config.discovery.results_dir / second.run_id / "dft" / "selection.csv").read_text()
    assert "exploit: P(gap in [" in selection
    loop_run = store.run(config.loop_id)
    assert loop_run.status == "completed" and len(loop_run.summary["rounds"]) == 2
    report_dir = config.discovery.results_dir / config.loop_id / "report"
    loop_report = (report_dir / "loop_report.md").read_text()
    assert f"| 0 | `{first.predictor}` | {first.trained_on} |" in loop_report
    assert f"| 1 | `{second.predictor}` | {second.trained_on} |" in loop_report
    assert f"## Round 1 (`{second.run_id}`)" in loop_report
    assert (report_dir / "prospective_parity.png").stat().st_size > 10_000

    # the same configuration again resumes: every round's run and correction is found, nothing is recomputed
    again = closed_loop(config)
    assert [r.model_dump() for r in again] == [r.model_dump() for r in rounds]
    assert len(store.labels()) == first.trained_on + 2


def test_a_loop_without_dft_or_labels_is_refused_naming_the_field(tmp_path, labels_file):
    settings = loop_settings(tmp_path, labels_file)
    with pytest.raises(ValueError, match="labels: round 0 learns from labels files"):
        ClosedLoopConfig.model_validate({**settings, "labels": []})
    settings["discovery"]["stages"] = ["sample", "optimize", "report"]
    with pytest.raises(ValueError, match="needs 'dft_submit' and 'dft_harvest'"):
        ClosedLoopConfig.model_validate(settings)
    (tmp_path / "loop.yaml").write_text(yaml.safe_dump({**loop_settings(tmp_path, labels_file),
                                                        "labels": [str(tmp_path / "none.json")]}))
    refused = CliRunner().invoke(app, ["loop", str(tmp_path / "loop.yaml")])
    assert refused.exit_code == 2 and "none.json" in refused.output


def test_each_round_runs_the_discovery_through_its_correction(tmp_path, labels_file):
    config = ClosedLoopConfig.model_validate(loop_settings(tmp_path, labels_file))
    run = round_config(config, 2, "dft-correction/band_gap-0123456789ab")
    gap = next(t for t in run.optimization.targets if t.name == "band_gap")
    assert gap.predictor == "dft-correction/band_gap-0123456789ab" and (gap.low, gap.high) == (1.3, 1.7)
    assert run.dft.acquisition.predictor == gap.predictor and run.initial.seed == 7
    assert run.name == "loop-test-round2" and run.run_id != round_config(config, 1, gap.predictor).run_id
