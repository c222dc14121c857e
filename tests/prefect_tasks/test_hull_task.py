"""The hull stage's Prefect task on a real SQLite store: reads a stage's candidates, records e_above_hull."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from prefect.logging import disable_run_logger

from smoacs_core.data.cif import parse_cif
from smoacs_core.hull.config import HullConfig
from smoacs_core.store import CandidateData, PropertyValue, ResultsStore
from smoacs_core.targets import PropertyTarget
from tasks.hull import place_candidates_on_hull

BAND_GAP = PropertyTarget.band_gap(1.5, 0.2)
ROWS = ("mp-754589", "mp-849287", "mp-760178")  # VOF (MP-stable), V3O5F (above), VOF3 (given no energy)
MP20 = HullConfig(dataset="mp20", task_documents=True)  # the rows' own reference: MP-20, V-O documents


@pytest.fixture
def run_store(tmp_path, data_dir):
    rows = pd.read_csv(data_dir / "mp_20_subset" / "train.csv").set_index("material_id").loc[list(ROWS)]
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = ResultsStore(url)
    store.start_run("run1", "demo", {}, {})
    candidates = []
    for number, (material_id, row) in enumerate(rows.iterrows()):
        structure = parse_cif(row["cif"])
        energy = float("nan") if number == 2 else row["formation_energy_per_atom"]
        candidates.append(
            CandidateData(
                id=f"run1-{material_id}",
                batch=0,
                template=material_id,
                formula=row["pretty_formula"],
                stage="optimized",
                success=True,
                structures={"optimized": (structure, None)},
                properties=[
                    PropertyValue("optimized", "formation_energy", "MEGNet", energy, "eV/atom"),
                    PropertyValue("optimized", "band_gap", "MEGNet", row["band_gap"], "eV"),
                ],
            )
        )
    store.save_candidates("run1", candidates)
    return url, store


def test_task_places_the_stage_and_records_e_above_hull(tmp_path, run_store):
    url, store = run_store
    with disable_run_logger():
        report = place_candidates_on_hull.fn("run1", str(tmp_path / "run1"), url, MP20, [BAND_GAP])
    assert (report.candidates, report.placed, report.on_hull) == (3, 2, 1)
    assert report.reference.name == "local" and report.footing == "formation_energy"
    assert report.incomplete_systems == ["F-O-V"] and report.without_structure == []
    table = store.candidates("run1").set_index("id")
    assert table.loc["run1-mp-754589", "optimized.e_above_hull"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["run1-mp-849287", "optimized.e_above_hull"] == pytest.approx(0.0097, abs=1e-4)
    assert pd.isna(
        table.loc["run1-mp-760178", "optimized.e_above_hull"]
    )  # no energy: not placed, stored as NULL
    assert table["stage"].eq("optimized").all() and table["success"].all()  # candidate rows untouched
    assert store.stage_statuses("run1")["hull"][0] == "completed"
    assert Path(report.table.path).parent == tmp_path / "run1" / "hull" / "optimized"
    assert [Path(p.path).name for p in report.plots] == ["F-O-V.png"]
    assert json.loads(Path(report.report.path).read_text())["target_error"].startswith("band_gap - 1.5")


def test_task_names_a_missing_stage(tmp_path, run_store):
    url, _ = run_store
    with disable_run_logger(), pytest.raises(ValueError, match="prerelaxed.formation_energy"):
        place_candidates_on_hull.fn("run1", str(tmp_path), url, HullConfig(), [BAND_GAP], stage="prerelaxed")
