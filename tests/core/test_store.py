"""The results store on SQLite and on a real PostgreSQL server: idempotent, transactional, queryable."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from smoacs_core.store import CandidateData, PropertyValue, ResultsStore, StoreError


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return ResultsStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    url = request.getfixturevalue("postgres_url")
    store = ResultsStore(url)
    with store.engine.begin() as connection:  # each test starts empty on the shared server
        for table in ("files", "criteria", "properties", "structures", "candidates", "stage_statuses", "runs"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    return store


def _candidate(number: int, success: bool = True) -> CandidateData:
    structure = Structure(Lattice.cubic(3.9 + 0.01 * number), ["Sr", "Ti", "O", "O", "O"],
                          [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return CandidateData(
        id=f"run1-b0-{number}", batch=0, template=f"t{number}", formula="SrTiO3", stage="optimized",
        success=success, structures={"initial": (structure, None), "optimized": (structure, f"/x/{number}.cif")},
        properties=[PropertyValue("optimized", "band_gap", "MEGNet-gap", 1.7 + number, "eV"),
                    PropertyValue("optimized", "formation_energy", "MEGNet-Eform", float("nan"), "eV/atom")],
        criteria={"band_gap_ok": success, "neutral": True},
    )


def test_writes_are_idempotent(store):
    store.start_run("run1", "demo", {"steps": 2}, {"torch": "x"})
    store.save_candidates("run1", [_candidate(0), _candidate(1, success=False)])
    store.save_candidates("run1", [_candidate(0), _candidate(1, success=False)])  # a resumed task writes again
    store.start_run("run1", "demo", {"steps": 2}, {"torch": "x"})  # and a resumed run starts again
    table = store.candidates("run1")
    assert len(table) == 2
    assert table["success"].tolist() == [True, False]
    assert table["optimized.band_gap"].tolist() == [1.7, 2.7]
    assert table["optimized.formation_energy"].isna().all()  # NaN is stored as NULL, not lost as an error
    assert store.structure("run1-b0-1", "optimized").lattice.a == pytest.approx(3.91)
    runs = store.runs()
    assert runs.loc[0, "candidates"] == 2 and runs.loc[0, "successes"] == 1


def test_stage_statuses_and_finish(store):
    store.start_run("run1", "demo", {}, {})
    store.set_stage("run1", "optimize", "running")
    store.set_stage("run1", "optimize", "completed", "2 batches")
    store.set_stage("run1", "prerelax", "failed", "M3GNet checkpoint missing")
    store.finish_run("run1", "completed", {"success_rate": 0.5})
    assert store.stage_statuses("run1")["optimize"] == ("completed", "2 batches")
    assert store.run("run1").summary == {"success_rate": 0.5}
    with pytest.raises(KeyError, match="nope"):
        store.finish_run("nope", "completed")


def test_a_failing_write_leaves_nothing_behind(store):
    """A batch is written in one transaction: a candidate of an unknown run aborts the whole batch."""
    with pytest.raises(Exception):
        store.save_candidates("no-such-run", [_candidate(0)])
    assert store.candidates().empty


def test_properties_are_added_without_touching_candidates(store):
    store.start_run("run1", "demo", {}, {})
    store.save_candidates("run1", [_candidate(0), _candidate(1, success=False)])
    hull = {"run1-b0-0": [PropertyValue("optimized", "e_above_hull", "local", 0.12, "eV/atom")],
            "run1-b0-1": [PropertyValue("optimized", "e_above_hull", "local", float("nan"), "eV/atom")]}
    store.save_properties("run1", hull)
    store.save_properties("run1", hull)  # a repeated task writes again
    table = store.candidates("run1")
    assert table["optimized.e_above_hull"].tolist()[0] == 0.12 and table["optimized.e_above_hull"].isna().tolist()[1]
    assert table["optimized.band_gap"].tolist() == [1.7, 2.7] and table["success"].tolist() == [True, False]
    with pytest.raises(KeyError, match="run1-b0-7"):
        store.save_properties("run1", {"run1-b0-7": hull["run1-b0-0"], **hull})
    assert store.candidates("run1")["optimized.e_above_hull"].tolist()[0] == 0.12


def test_passwords_never_in_urls(monkeypatch):
    with pytest.raises(StoreError, match="SMOACS_STORE_PASSWORD") as error:
        ResultsStore("postgresql://smoacs:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(error.value)


def test_unreachable_database_fails_clearly(monkeypatch):
    monkeypatch.setenv("SMOACS_STORE_PASSWORD", "s3cret")
    with pytest.raises(StoreError, match="cannot reach") as error:
        ResultsStore("postgresql://smoacs@127.0.0.1:1/db")
    assert "s3cret" not in str(error.value)


def test_later_stages_add_criteria_structures_and_dft_rows_without_touching_candidates(store, srtio3):
    store.start_run("run1", "demo", {}, {})
    store.save_candidates("run1", [_candidate(0)])
    store.save_criteria("run1", "optimized", {"run1-b0-0": {"unique": True, "novel_structure": False}})
    relaxed = srtio3.copy()
    relaxed.scale_lattice(relaxed.volume * 1.02)
    store.save_structures("run1", "dft", {"run1-b0-0": (relaxed, None)})
    row = {"candidate_id": "run1-b0-0", "code": "VASP", "backend": "write", "directory": "/calc/0",
           "reference": "", "status": "written"}
    store.save_dft_calculations("run1", [row])
    store.update_dft_calculations("run1", [{"candidate_id": "run1-b0-0", "code": "VASP", "status": "completed",
                                            "functional": "PBE"}])  # a harvest
    table = store.candidates("run1")
    assert table.loc[0, "stage"] == "optimized" and table.loc[0, "success"]  # the candidate row is unchanged
    assert table.loc[0, "optimized.unique"] and not table.loc[0, "optimized.novel_structure"]
    assert store.structure("run1-b0-0", "dft").volume == pytest.approx(relaxed.volume)
    calculations = store.dft_calculations("run1")
    assert len(calculations) == 1 and calculations.loc[0, "status"] == "completed"
    assert calculations.loc[0, "functional"] == "PBE" and calculations.loc[0, "directory"] == "/calc/0"
    assert store.dft_calculations(statuses=["written", "submitted"]).empty
    with pytest.raises(KeyError, match="not candidates of run 'run1': ghost"):
        store.save_criteria("run1", "optimized", {"ghost": {"unique": True}})
    with pytest.raises(KeyError, match="no GPAW calculation of candidate 'run1-b0-0'"):
        store.update_dft_calculations("run1", [{"candidate_id": "run1-b0-0", "code": "GPAW", "status": "lost"}])


def test_structures_of_many_candidates_in_one_call(store, srtio3):
    """In the order asked; a candidate without a structure at that stage is left out, not an error."""
    store.start_run("run1", "demo", {}, {})
    store.save_candidates("run1", [_candidate(0), _candidate(1)])
    relaxed = srtio3.copy()
    relaxed.scale_lattice(relaxed.volume * 1.02)
    store.save_structures("run1", "dft", {"run1-b0-1": (relaxed, None)})
    optimized = store.structures(["run1-b0-1", "ghost", "run1-b0-0"], "optimized")
    assert list(optimized) == ["run1-b0-1", "run1-b0-0"]
    assert optimized["run1-b0-0"] == store.structure("run1-b0-0", "optimized")
    dft = store.structures(["run1-b0-0", "run1-b0-1"], "dft")
    assert list(dft) == ["run1-b0-1"] and dft["run1-b0-1"].volume == pytest.approx(relaxed.volume)
