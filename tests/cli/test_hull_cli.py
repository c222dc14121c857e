"""`smoacs hull` as users run it: on a `smoacs optimize` output directory, on a CSV, and its error paths."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from smoacs_cli.app import app

runner = CliRunner()
VO_EXAMPLE = "vasp_reference_outputs/mp_phase_diagram_tutorial/MP-example-V-O-phase-diagram.json.gz"
# real MP-20 rows: stable VOF, metastable V2OF5 and V3O5F, and a quaternary with no plot
ROWS = ("mp-754589", "mp-752757", "mp-849287", "mp-1218963")


@pytest.fixture
def optimize_dir(tmp_path, data_dir):
    """A directory in the layout `smoacs optimize` writes, holding real MP-20 crystals as candidates."""
    rows = pd.concat(pd.read_csv(data_dir / "mp_20_subset" / f"{s}.csv") for s in ("train", "val", "test"))
    rows = rows.set_index("material_id").loc[list(ROWS)].reset_index()
    out = tmp_path / "run"
    (out / "structures").mkdir(parents=True)
    ids = [f"c{n:05d}" for n in range(len(rows))]
    for candidate_id, cif in zip(ids, rows["cif"], strict=True):
        (out / "structures" / f"{candidate_id}.cif").write_text(cif)
    pd.DataFrame(
        {
            "id": ids,
            "template": rows["material_id"],
            "formula": rows["pretty_formula"],
            "band_gap": rows["band_gap"],
            "formation_energy": rows["formation_energy_per_atom"],
        }
    ).to_csv(out / "candidates.csv", index=False)
    targets = [
        {"name": "band_gap", "predictor": "megnet-bandgap-pbe", "goal": "range", "low": 1.3, "high": 1.7},
        {"name": "formation_energy", "predictor": "megnet-eform", "goal": "minimize", "threshold": -0.5},
    ]
    (out / "summary.json").write_text(json.dumps({"config": {"targets": targets}}))
    return out, dict(zip(ids, rows["material_id"], strict=True)), rows


def _hull(*args: str):
    return runner.invoke(app, ["hull", *map(str, args)])


def test_hull_of_an_optimize_directory(tmp_path, optimize_dir):
    run, material_of, rows = optimize_dir
    out = tmp_path / "hull"
    result = _hull(run, "--out", out, "--dataset", "mp20", "--task-documents")  # the rows' own MP-20 hull
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "hull.csv")
    assert table["rank"].tolist() == [1, 2, 3, 4]
    stable = table[table["e_above_hull"] <= 1e-9]
    assert material_of[stable["id"].iloc[0]] == "mp-754589"  # VOF is on the MP hull and on ours
    assert (table["e_above_hull"].clip(lower=0).diff().dropna() >= 0).all()
    gaps = dict(zip(rows["material_id"], rows["band_gap"], strict=True))
    assert table["target_error"].tolist() == pytest.approx([gaps[material_of[i]] - 1.5 for i in table["id"]])
    report = json.loads((out / "hull.json").read_text())
    assert report["footing"] == "formation_energy" and report["reference"]["name"] == "local"
    assert report["target_error"].startswith("band_gap - 1.5")
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["F-O-V.png"]
    assert "incomplete reference" in result.output and "VOF" in result.output


def test_csv_against_an_entries_file(tmp_path, data_dir):
    candidates = tmp_path / "candidates.csv"
    candidates.write_text(
        "id,formula,formation_energy_per_atom,gap_error\nx,V3O5,-2.3,0.1\ny,V4O7,-2.6,-0.3\n"
    )
    out = tmp_path / "hull"
    result = _hull(
        candidates,
        "--reference",
        "entries_file",
        "--entries",
        data_dir / VO_EXAMPLE,
        "--target-error-column",
        "gap_error",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "hull.csv")
    assert table["id"].tolist() == ["y", "x"] and table["on_hull"].tolist() == [True, False]
    assert table["decomposition_ids"].iloc[1] == "mp-18937 mp-541404"
    report = json.loads((out / "hull.json").read_text())
    assert report["reference"]["name"] == "entries_file" and report["target_error"] == "column gap_error"
    assert report["reference"]["n_skipped"] == 12  # r2SCAN and PBEsol documents, each with its reason
    assert (out / "plots" / "O-V.png").is_file()


def test_hull_of_a_prerelax_directory(tmp_path, optimize_dir):
    """`smoacs prerelax` writes prerelaxed.csv, structures of the relaxed candidates and a summary naming the
    optimize output (whose targets give the target error); a failed relaxation has no structure: left out."""
    run, _, rows = optimize_dir
    relaxed = tmp_path / "relaxed"
    (relaxed / "structures").mkdir(parents=True)
    table = pd.read_csv(run / "candidates.csv").assign(relax_status="converged", energy_per_atom=float("nan"))
    table.loc[3, "relax_status"] = "failed"
    table.to_csv(relaxed / "prerelaxed.csv", index=False)
    for candidate_id in table["id"][:3]:
        (relaxed / "structures" / f"{candidate_id}.cif").write_text(
            (run / "structures" / f"{candidate_id}.cif").read_text()
        )
    (relaxed / "summary.json").write_text(json.dumps({"optimized": str(run)}))
    out = tmp_path / "hull"
    result = _hull(relaxed, "--out", out)
    assert result.exit_code == 0, result.output
    assert "left out 1 candidates without a relaxed structure: c00003" in result.output
    hull_table = pd.read_csv(out / "hull.csv")
    assert (
        sorted(hull_table["id"]) == ["c00000", "c00001", "c00002"]
        and hull_table["target_error"].notna().all()
    )
    result = _hull(relaxed, "--footing", "total_energy", "--out", tmp_path / "total")
    assert result.exit_code == 0, result.output  # no energies yet: nothing placed, every row says why
    assert pd.read_csv(tmp_path / "total" / "hull.csv")["warnings"].str.contains("no finite energy").all()


def test_existing_results_are_kept_unless_overwrite(tmp_path, optimize_dir):
    run, _, _ = optimize_dir
    out = tmp_path / "hull"
    assert _hull(run, "--out", out).exit_code == 0
    before = (out / "hull.json").read_text()
    result = _hull(run, "--out", out, "--no-plots")
    assert result.exit_code == 2 and "already holds hull results" in result.output
    assert (out / "hull.json").read_text() == before
    result = _hull(run, "--out", out, "--no-plots", "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (out / "plots").exists()  # no stale plot of the first run


@pytest.mark.parametrize(
    ("make_input", "args", "message"),
    [
        (lambda d: d / "nothing", [], "no such file or directory"),
        (lambda d: d, [], "no candidates.csv or prerelaxed.csv"),
        (lambda d: _csv(d, "formula,energy\nV2O3,-2\n"), [], "no column 'formation_energy_per_atom'"),
        (lambda d: _csv(d, "formula,formation_energy_per_atom\nV2Oq3,-2\n"), [], "row 1 (row-1): 'V2Oq3'"),
        (
            lambda d: _csv(d, "formula,formation_energy_per_atom\nV2O3,-2\n"),
            ["--footing", "total_energy"],
            "no column 'energy_per_atom'",
        ),
        (
            lambda d: _csv(d, "formula,formation_energy_per_atom\nV2O3,-2\n"),
            ["--footing", "enthalpy"],
            "footing",
        ),
        (
            lambda d: _csv(d, "formula,formation_energy_per_atom\nV2O3,-2\n"),
            ["--reference", "entries_file"],
            "entries_file: required",
        ),
        (
            lambda d: _csv(d, "formula,formation_energy_per_atom\nV2O3,-2\n"),
            ["--reference", "mp_api"],
            "MP_API_KEY",
        ),
        (
            lambda d: _csv(d, "formula,formation_energy_per_atom\nV2O3,-2\n"),
            ["--reference", "entries_file", "--entries", "missing.json"],
            "missing.json: entries file not found",
        ),
        (
            lambda d: _csv(d, "formula,formation_energy_per_atom\nV2O3,-2\n"),
            ["--config", "nope.yaml"],
            "nope.yaml",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, monkeypatch, make_input, args, message):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    out = tmp_path / "hull"
    result = _hull(make_input(tmp_path), *args, "--out", out)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (out / "hull.json").exists()


def test_missing_candidate_structure_exits_2(tmp_path, optimize_dir):
    run, _, _ = optimize_dir
    (run / "structures" / "c00001.cif").unlink()
    result = _hull(run, "--out", tmp_path / "hull")
    assert result.exit_code == 2 and "c00001.cif: structure of candidate c00001 not found" in result.output


def test_help_stays_cheap():
    """Registering the command imports nothing of pymatgen's analysis (seconds to import)."""
    code = "import sys, smoacs_cli.app; print(any(m.startswith('pymatgen.analysis') for m in sys.modules))"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


def _csv(directory, text):
    path = directory / "candidates.csv"
    path.write_text(text)
    return path
