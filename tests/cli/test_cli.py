"""The `smoacs optimize` command as users run it, including its error paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pymatgen.core import Structure
from typer.testing import CliRunner

from smoacs_cli.app import app

SMOACS = Path(sys.executable).parent / "smoacs"
runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, ["optimize", *args])


def test_acceptance_command_writes_every_result(tmp_path):
    out = tmp_path / "run"
    command = [str(SMOACS), "optimize", "--template", "perovskite", "--n", "8", "--steps", "20",
               "--target-bandgap", "1.5", "--margin", "0.2", "--seed", "0", "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_samples"] == 8
    assert 0.0 <= summary["success_rate"] <= 1.0
    for criterion in ("band_gap_ok", "formation_energy_ok", "neutral", "min_distance_ok", "valid_structure",
                      "tolerance_ok", "coords_ok", "angles_ok", "perovskite_ok"):
        assert 0.0 <= summary["rates"][criterion] <= 1.0
    assert summary["rates"]["neutral"] == 1.0
    assert summary["provenance"]["models"]["megnet-eform"] == "MEGNet-MP-2018.6.1-Eform"
    table = pd.read_csv(out / "candidates.csv")
    assert len(table) == 8
    assert {"id", "formula", "band_gap", "formation_energy", "success"} <= set(table.columns)
    assert table["success"].mean() == pytest.approx(summary["success_rate"])
    for candidate in table["id"]:
        structure = Structure.from_file(out / "structures" / f"{candidate}.cif")
        assert len(structure) == 5
        poscar = Structure.from_file(out / "structures" / f"{candidate}.vasp")
        assert poscar.composition == structure.composition.element_composition
    assert (out / "history.png").stat().st_size > 10_000
    assert len(pd.read_csv(out / "history.csv")) == 20


def test_input_structures_free_mode_with_novelty(tmp_path, mp20_rows, data_dir):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for material_id, cif in zip(mp20_rows["material_id"].head(6), mp20_rows["cif"].head(6)):
        (inputs / f"{material_id}.cif").write_text(cif)
    out = tmp_path / "run"
    result = _invoke("--input", str(inputs), "--steps", "5", "--out", str(out),
                     "--reference", str(data_dir / "mp_20_subset"))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["mode"] == "free"
    assert summary["unique_novel_rate_in_success"] is not None
    assert set(pd.read_csv(out / "candidates.csv")["template"]) <= set(mp20_rows["material_id"].head(6))


def test_supercell_template(tmp_path):
    out = tmp_path / "run"
    result = _invoke("--template", "perovskite3x3x3", "--n", "2", "--steps", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "candidates.csv")
    assert (table["num_sites"] == 135).all() and table["neutral"].all() and table["coords_ok"].all()


def test_malformed_cif_is_named_and_nothing_written(tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_broken\n_cell_length_a 3.9\nthis is not a CIF loop\n")
    out = tmp_path / "run"
    result = _invoke("--input", str(bad), "--steps", "2", "--out", str(out))
    assert result.exit_code == 2
    assert "broken.cif" in result.output
    assert not out.exists()  # nothing is created for a run that never started


def test_nan_lattice_poscar_is_rejected(tmp_path):
    poscar = tmp_path / "POSCAR"
    poscar.write_text("bad\n1.0\nnan 0 0\n0 4 0\n0 0 4\nNa Cl\n1 1\ndirect\n0 0 0\n0.5 0.5 0.5\n")
    result = _invoke("--input", str(poscar), "--steps", "2", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "POSCAR" in result.output


def test_element_without_oxidation_state_is_named(tmp_path):
    xenon = tmp_path / "XeF.cif"
    from pymatgen.core import Lattice

    Structure(Lattice.cubic(4.0), ["Xe", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(xenon))
    result = _invoke("--input", str(xenon), "--steps", "2", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "XeF" in result.output and "oxidation" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--template", "perovskite", "--input", "x.cif"], "exclude each other"),
        (["--margin", "-1"], "margin"),
        (["--device", "cuda"], "CUDA"),
        (["--include-elements", "Na,Qq"], "Qq"),
        (["--target-bandgap", "-3", "--margin", "0.2"], "range"),
    ],
)
def test_bad_options_exit_with_a_message(tmp_path, args, message):
    result = _invoke(*args, "--steps", "2", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert message in result.output


def test_existing_results_are_not_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    result = _invoke("--n", "2", "--steps", "2", "--out", str(out))
    assert result.exit_code == 2 and "already holds results" in result.output
    assert (out / "summary.json").read_text() == "{}"


def test_config_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "mode: perovskite\nsteps: 4\ngraph_rebuilds: 2\n"
        "targets:\n"
        "  - {name: band_gap, predictor: megnet-bandgap-pbe, goal: range, low: 2.0, high: 3.0, clip_min: 0.0}\n"
        "  - {name: formation_energy, predictor: megnet-eform, goal: minimize, threshold: -0.5}\n"
        "constraints: {optimize_angles: false, coord_tolerance: 0.1}\n"
    )
    out = tmp_path / "run"
    result = _invoke("--config", str(config), "--n", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["steps"] == 4 and summary["config"]["targets"][0]["low"] == 2.0
    config.write_text("steps: 4\nlearning_rate: 0.1\n")
    result = _invoke("--config", str(config), "--n", "3", "--out", str(tmp_path / "other"))
    assert result.exit_code == 2 and "learning_rate" in result.output


def test_missing_model_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("SMOACS_MODEL_DIR", str(tmp_path / "no-models"))
    result = _invoke("--n", "2", "--steps", "2", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "no-models" in result.output


@pytest.mark.slow
def test_prerelax_command(tmp_path):
    out = tmp_path / "run"
    assert _invoke("--n", "3", "--steps", "20", "--out", str(out)).exit_code == 0
    result = runner.invoke(app, ["prerelax", str(out), "--max-steps", "40"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "prerelaxed" / "summary.json").read_text())
    assert summary["n_samples"] == 3 and "success_rate_relaxed" in summary and "success_rate_unrelaxed" in summary
    table = pd.read_csv(out / "prerelaxed" / "prerelaxed.csv")
    assert set(table["id"]) == set(pd.read_csv(out / "candidates.csv")["id"])
    assert {"relax_status", "band_gap_drift", "volume_ratio", "matches_unrelaxed"} <= set(table.columns)
    again = runner.invoke(app, ["prerelax", str(out)])
    assert again.exit_code == 2 and "already holds results" in again.output
    assert runner.invoke(app, ["prerelax", str(tmp_path)]).exit_code == 2
