"""The `smoacs sample` command as users run it, its error paths, and its output feeding `smoacs optimize`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pandas as pd
import pytest
from pymatgen.core import Structure
from typer.testing import CliRunner

from smoacs_cli.app import app

runner = CliRunner()


def _sample(*args: str):
    return runner.invoke(app, ["sample", *args])


def test_sample_mp20_writes_structures_and_manifest(tmp_path):
    out = tmp_path / "sample"
    result = _sample("--source", "mp20", "--n", "6", "--seed", "1", "--max-band-gap", "4", "--out", str(out))
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["read"] == 847 + 123 + 142
    assert (
        counts["read"]
        == sum(counts["skipped"].values()) + sum(counts["removed"].values()) + counts["eligible"]
    )
    assert counts["chosen"] == 6 and counts["removed"]["band_gap"] > 0
    assert manifest["config"]["max_sites"] == 10 and manifest["source"]["kind"] == "mp20"
    assert manifest["files_read"][0].endswith("mp_20_subset/train.csv")
    table = pd.read_csv(out / "manifest.csv")
    assert table["id"].tolist() == [c["id"] for c in manifest["chosen"]]
    assert (table["band_gap"] <= 4).all()
    for file, sites in zip(table["file"], table["num_sites"], strict=True):
        assert len(Structure.from_file(out / file)) == sites <= 10
    assert sorted(p.name for p in (out / "structures").iterdir()) == sorted(
        f.split("/")[1] for f in table["file"]
    )


def test_existing_sample_is_kept_unless_overwrite(tmp_path):
    out = tmp_path / "sample"
    assert _sample("--source", "mp20", "--n", "3", "--out", str(out)).exit_code == 0
    before = (out / "manifest.json").read_text()
    result = _sample("--source", "mp20", "--n", "2", "--seed", "5", "--out", str(out))
    assert result.exit_code == 2 and "already holds a sample" in result.output
    assert (out / "manifest.json").read_text() == before
    result = _sample("--source", "mp20", "--n", "2", "--seed", "5", "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert len(list((out / "structures").iterdir())) == 2  # no stale CIF from the first sample


def test_templates_and_config_file(tmp_path):
    config = tmp_path / "sample.yaml"
    config.write_text("source: {kind: perovskite, repeat: 2, count: 3, seed: 7}\nrequire_pattern: true\n")
    out = tmp_path / "templates"
    result = _sample("--config", str(config), "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "manifest.csv")
    assert table["num_sites"].tolist() == [40, 40, 40]
    assert table["id"].tolist() == [f"perovskite2x2x2-template-{k}" for k in range(3)]


def test_directory_with_a_bad_file_is_sampled_with_the_skip_reported(tmp_path, mp20_rows):
    inputs = tmp_path / "mine"
    inputs.mkdir()
    for material_id, cif in zip(mp20_rows["material_id"].head(12), mp20_rows["cif"].head(12), strict=True):
        (inputs / f"{material_id}.cif").write_text(cif)
    (inputs / "broken.cif").write_text("data_broken\n_cell_length_a 3.9\nthis is not a CIF loop\n")
    out = tmp_path / "sample"
    result = _sample("--source", "directory", "--path", str(inputs), "--max-sites", "20", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "skipped broken" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["skipped"]["unreadable"] == 1
    assert (
        manifest["skipped_entries"][0]["id"] == "broken"
        and "broken.cif" in manifest["skipped_entries"][0]["reason"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "directory"], "needs --path"),
        (["--source", "directory", "--path", "no/such/dir"], "no/such/dir"),
        (["--source", "mp20", "--include-elements", "Na,Qq"], "Qq"),
        (["--source", "mp20", "--min-band-gap", "3", "--max-band-gap", "1"], "above max"),
        (["--source", "directory", "--path", ".", "--max-band-gap", "1"], "no such property"),
        (["--source", "mp20", "--path", "no/such.csv"], "no/such.csv"),
        (["--source", "mp20", "--include-elements", "He"], "passed the filters"),
        (["--source", "perovskite", "--path", "x"], "reads no --path"),
        (["--config", "missing.yaml"], "missing.yaml"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "sample"
    result = _sample(*args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (out / "manifest.json").exists()


def test_megnet_offline_names_the_download_and_the_way_out(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("SMOACS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMOACS_CACHE_DIR", str(tmp_path / "cache"))
    result = _sample("--out", str(tmp_path / "sample"))
    assert result.exit_code == 2
    assert "figshare" in result.output and "SMOACS_DATA_DIR" in result.output


@pytest.mark.slow
def test_sample_output_feeds_optimize(tmp_path):
    sample_dir = tmp_path / "sample"
    assert _sample("--source", "mp20", "--n", "4", "--out", str(sample_dir)).exit_code == 0
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["optimize", "--input", str(sample_dir), "--steps", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    candidates = pd.read_csv(out / "candidates.csv")
    assert sorted(candidates["template"]) == sorted(pd.read_csv(sample_dir / "manifest.csv")["id"])
