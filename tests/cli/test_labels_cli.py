"""`smoacs labels` and `smoacs correction` as a user runs them: import real GPAW labels, train, list, reuse."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from smoacs_cli.app import app

runner = CliRunner()


def test_import_train_and_list_corrections(tmp_path, monkeypatch, model_dir, gpaw_labels_file):
    monkeypatch.setenv("SMOACS_TRAINED_MODEL_DIR", str(tmp_path / "trained"))
    document = json.loads(gpaw_labels_file.read_text())
    document["labels"] = document["labels"][:30]
    (tmp_path / "mine.json").write_text(json.dumps(document))
    results = ["--results-dir", str(tmp_path / "results")]

    imported = runner.invoke(app, ["labels", "import", str(tmp_path / "mine.json"), *results])
    assert imported.exit_code == 0, imported.output
    assert "30 labels read" in imported.output and "30 GPAW-PBE" in imported.output and "30 new" in imported.output
    again = runner.invoke(app, ["labels", "import", str(tmp_path / "mine.json"), *results])
    assert "0 new" in again.output
    listed = runner.invoke(app, ["labels", "list", *results])
    assert "GPAW-PBE" in listed.output and "30" in listed.output

    (tmp_path / "correction.yaml").write_text(yaml.safe_dump(
        {"members": ["megnet-bandgap-pbe", "cgcnn-bandgap"], "ensemble_size": 5, "steps": 100}))
    options = ["--config", str(tmp_path / "correction.yaml"), "--no-validate", *results]
    trained = runner.invoke(app, ["correction", "train", *options])
    assert trained.exit_code == 0, trained.output
    assert "trained dft-correction/band_gap-" in trained.output and "30 labels (30 GPAW-PBE)" in trained.output
    name = trained.output.split()[1].rstrip(":")
    reused = runner.invoke(app, ["correction", "train", *options])
    assert reused.output.startswith(f"reused {name}:")
    monkeypatch.setenv("COLUMNS", "250")  # rich tables take the terminal's width
    listed = runner.invoke(app, ["correction", "list"])
    assert name in listed.output and "30 GPAW-PBE" in listed.output


def test_bad_labels_and_settings_exit_2_with_the_reason(tmp_path):
    results = ["--results-dir", str(tmp_path / "results")]
    (tmp_path / "bad.csv").write_text("structure_file,band_gap\nmissing.cif,1.0\n")
    bad = runner.invoke(app, ["labels", "import", str(tmp_path / "bad.csv"), "--code", "VASP", "--functional", "PBE",
                              *results])
    assert bad.exit_code == 2 and "bad.csv, row 0: unreadable structure" in bad.output
    (tmp_path / "c.yaml").write_text("ensemble_size: 2\n")
    few = runner.invoke(app, ["correction", "train", "--config", str(tmp_path / "c.yaml"), *results])
    assert few.exit_code == 2 and "ensemble_size" in few.output
    empty = runner.invoke(app, ["correction", "train", *results])
    assert empty.exit_code == 2 and "no PBE labels to train on" in empty.output
