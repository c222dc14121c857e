"""The DFT stages in the pipeline: the best candidates to VASP, harvested back into the store, hull and report.

VASP is replayed from real reference calculations with atomate2's own test helper (tests/vasp_replay.py):
the candidate is the Materials Project's Si from those calculations, predicted by the real MEGNet gap model.
Everything else is real: the store, the Prefect tasks and the harvest flow, atomate2/jobflow, emmet parsing,
MP2020 corrections and the convex hull against the local reference.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.config import DiscoveryConfig
from smoacs_cli.app import app
from smoacs_core.store import CandidateData, PropertyValue, ResultsStore, default_store_url

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _run_with_candidates(tmp_path, structures, predictors, dft: dict, low=0.5, high=0.8, hull: dict | None = None
                         ) -> DiscoveryConfig:
    """A run whose optimized candidates are ``structures`` (id -> Structure), as the optimize stage leaves them."""
    config = DiscoveryConfig.model_validate({"hull": hull or {},
        "name": "dft-test", "results_dir": str(tmp_path),
        "stages": ["sample", "optimize", "dft_submit", "dft_harvest", "report"],
        "initial": {"kind": "dataset", "sampling": {"source": {"kind": "mp20"}}},
        "optimization": {"mode": "free", "steps": 1, "targets": [
            {"name": "band_gap", "predictor": "megnet-bandgap-pbe", "goal": "range", "low": low, "high": high},
            {"name": "formation_energy", "predictor": "megnet-eform", "goal": "minimize", "threshold": -0.5},
        ]},
        "dft": dft,
    })
    store = ResultsStore(default_store_url(tmp_path))
    store.start_run(config.run_id, config.name, config.model_dump(mode="json"), {})
    gaps = predictors["megnet-bandgap-pbe"].predict(list(structures.values()))
    energies = predictors["megnet-eform"].predict(list(structures.values()))
    store.save_candidates(config.run_id, [
        CandidateData(id=candidate_id, batch=0, template=candidate_id, formula=s.composition.reduced_formula,
                      stage="optimized", success=True, structures={"optimized": (s, None)},
                      properties=[PropertyValue("optimized", "band_gap", "MEGNet-gap", float(gap), "eV"),
                                  PropertyValue("optimized", "formation_energy", "MEGNet-Eform", float(e))],
                      criteria={"band_gap_ok": True, "formation_energy_ok": True, "success": True})
        for (candidate_id, s), gap, e in zip(structures.items(), gaps, energies, strict=True)
    ])
    return config


def test_vasp_local_submit_then_harvest_flow_updates_store_hull_and_report(tmp_path, si, si_chain, predictors):
    from flows.harvest import dft_harvest
    from tasks.dft import submit_dft

    config = _run_with_candidates(tmp_path, {"si-0": si}, predictors, {"code": "vasp", "vasp": {"backend": "local"}})
    store_url = default_store_url(tmp_path)
    submitted = submit_dft(config.run_id, str(config.run_dir), store_url, config.dft, config.optimization.targets,
                           "optimized")
    assert submitted.selected == ["si-0"] and submitted.statuses == {"si-0": "submitted"}
    again = submit_dft(config.run_id, str(config.run_dir), store_url, config.dft, config.optimization.targets,
                           "optimized")
    assert again.selected == []  # never handed to DFT twice

    assert dft_harvest(store_url) == {config.run_id: {"si-0": "completed"}}  # every run of the store
    store = ResultsStore(store_url)
    row = store.dft_calculations(config.run_id).iloc[0]
    assert (row["code"], row["status"], row["functional"], row["backend"]) == ("VASP", "completed", "PBE", "local")
    candidate = store.candidates(config.run_id).iloc[0]
    assert candidate["dft.band_gap"] == pytest.approx(0.6503, abs=1e-4)  # uniform non-SCF of the reference
    assert candidate["dft.energy_per_atom"] == pytest.approx(-10.84060922 / 2, abs=1e-8)
    assert candidate["dft.band_gap_drift"] == pytest.approx(0.6503 - candidate["optimized.band_gap"], abs=1e-4)
    assert candidate["dft.band_gap_ok"]  # 0.65 eV in [0.5, 0.8]
    assert candidate["dft.e_above_hull"] == pytest.approx(0.0, abs=0.02)  # Si against MP's elemental Si
    assert store.structure("si-0", "dft").lattice.a == pytest.approx(si.lattice.a, rel=0.02)
    report = (config.run_dir / "report" / "report.md").read_text()
    assert "DFT (VASP-PBE): 1 completed." in report and "DFT-confirmed: **1 of 1**" in report
    assert (config.run_dir / "report" / "dft_parity.png").stat().st_size > 10_000
    assert store.run(config.run_id).summary["dft"]["confirmed_rate"] == 1.0
    assert "dft.e_above_hull_ok" not in store.candidates(config.run_id)  # local reference: legacy footing
    assert "shown but not part of the confirmation" in report
    assert dft_harvest(store_url) == {}  # nothing left open


def test_vasp_energy_above_an_mp2020_hull_joins_the_confirmation(tmp_path, si, si_chain, predictors, data_dir):
    """Against MP2020 entries (the Materials Project's 2023 elemental references as an entries file) the VASP
    energy with MP2020 corrections is on the reference's footing: confirmed = gap in the window and E_hull at
    most dft.max_e_above_hull, both in the report."""
    from flows.harvest import dft_harvest
    from tasks.dft import submit_dft

    entries = next((data_dir / "mp_elemental_refs").glob("*.json.gz"))
    config = _run_with_candidates(tmp_path, {"si-0": si}, predictors, {"code": "vasp", "vasp": {"backend": "local"}},
                                  hull={"reference": "entries_file", "entries_file": str(entries)})
    store_url = default_store_url(tmp_path)
    submit_dft(config.run_id, str(config.run_dir), store_url, config.dft, config.optimization.targets, "optimized")
    assert dft_harvest(store_url) == {config.run_id: {"si-0": "completed"}}
    candidate = ResultsStore(store_url).candidates(config.run_id).iloc[0]
    assert candidate["dft.e_above_hull"] == pytest.approx(0.0, abs=0.02) and candidate["dft.e_above_hull_ok"]
    report = (config.run_dir / "report" / "report.md").read_text()
    assert "at most 0.1 eV/atom above the hull (1 of 1)" in report and "DFT-confirmed: **1 of 1**" in report
    summary = ResultsStore(store_url).run(config.run_id).summary["dft"]
    assert (summary["hull_judged"], summary["within_hull_limit"], summary["confirmed"]) == (1, 1, 1)


def test_write_backend_leaves_work_open_for_the_cluster(tmp_path, si, no_potcar_library, predictors):
    from flows.harvest import dft_harvest
    from tasks.dft import submit_dft

    config = _run_with_candidates(tmp_path, {"si-0": si}, predictors,
                                  {"code": "vasp", "vasp": {"backend": "write", "job_script": {"scheduler": "pbs"}}})
    store_url = default_store_url(tmp_path)
    submit_dft(config.run_id, str(config.run_dir), store_url, config.dft, config.optimization.targets,
                           "optimized")
    folder = config.run_dir / "dft" / "vasp" / "si-0"
    assert {"INCAR", "KPOINTS", "POSCAR", "POTCAR.spec", "job.pbs"} <= {p.name for p in folder.iterdir()}
    assert dft_harvest(store_url) == {config.run_id: {"si-0": "written"}}  # the cluster has not run it yet
    assert ResultsStore(store_url).stage_statuses(config.run_id)["dft_submit"][1].endswith("1 written")
    harvested = CliRunner().invoke(app, ["harvest", "--results-dir", str(tmp_path)])
    assert harvested.exit_code == 0 and f"{config.run_id}: 1 written" in harvested.output
    shown = CliRunner().invoke(app, ["results", "show", config.run_id, "--results-dir", str(tmp_path)])
    assert "DFT calculations:" in shown.output and "VASP" in shown.output and "written" in shown.output
    missing = CliRunner().invoke(app, ["harvest", "--results-dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no results store" in missing.output


def test_filters_before_dft_drop_the_metal_and_record_why(tmp_path, si, no_potcar_library, predictors):
    """The metal gate in the pipeline: copper never reaches DFT; the store and dft/filtered.csv say why."""
    import pandas as pd
    from pymatgen.core import Lattice, Structure

    from tasks.dft import submit_dft

    copper = Structure(Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    config = _run_with_candidates(tmp_path, {"si-0": si, "cu-0": copper}, predictors,
                                  {"code": "vasp", "vasp": {"backend": "write"},
                                   "filters": {"min_non_metal_probability": 0.5}})  # Si: 0.71, Cu: 0.00
    store_url = default_store_url(tmp_path)
    submitted = submit_dft(config.run_id, str(config.run_dir), store_url, config.dft, config.optimization.targets,
                           "optimized")
    assert submitted.selected == ["si-0"]
    candidates = ResultsStore(store_url).candidates(config.run_id).set_index("id")
    assert not candidates.loc["cu-0", "optimized.passes_dft_filters"]
    assert candidates.loc["si-0", "optimized.passes_dft_filters"]
    assert candidates.loc["cu-0", "optimized.non_metal_probability"] < 0.1
    filtered = pd.read_csv(config.run_dir / "dft" / "filtered.csv")
    assert list(filtered["id"]) == ["cu-0"] and filtered["reasons"][0].startswith("metal gate: P(non-metal)")
