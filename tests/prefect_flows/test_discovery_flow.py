"""The discovery flow on a real (temporary) Prefect server, real models, SQLite and PostgreSQL stores."""

from __future__ import annotations

import numpy as np
import pytest

from flows.config import DiscoveryConfig
from smoacs_core.store import ResultsStore, default_store_url

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _config(tmp_path, **overrides) -> DiscoveryConfig:
    data = {
        "name": "flow-test",
        "results_dir": str(tmp_path),
        "initial": {"kind": "perovskite_templates", "count": 6, "seed": 3},
        "optimization": {"mode": "perovskite", "steps": 6},
        "batch_size": 3,
        **overrides,
    }
    return DiscoveryConfig.model_validate(data)


def test_flow_writes_store_files_and_reuses_cache(tmp_path):
    from flows.discovery import discovery

    config = _config(tmp_path)
    summary = discovery(config)
    assert summary["n_samples"] == 6
    assert summary["batches"] == {"0": "Completed", "1": "Completed"}
    store = ResultsStore(default_store_url(tmp_path))
    candidates = store.candidates(config.run_id)
    assert len(candidates) == 6 and candidates["id"].is_unique
    assert {"optimized.band_gap", "optimized.formation_energy", "optimized.success"} <= set(candidates.columns)
    assert store.structure(candidates["id"][0], "initial").num_sites == 5
    assert store.stage_statuses(config.run_id)["optimize"][0] == "completed"
    assert store.run(config.run_id).status == "completed"
    report = config.run_dir / "report"
    assert (report / "report.md").read_text().startswith(f"# Discovery run `{config.run_id}`")
    assert (report / "candidates.png").stat().st_size > 5000

    again = discovery(config)  # the same configuration resumes: every batch comes from the cache
    assert again["batches"] == {"0": "Cached", "1": "Cached"}
    assert len(store.candidates(config.run_id)) == 6
    assert again["success_rate"] == summary["success_rate"]


def test_failing_stage_fails_the_run_and_keeps_finished_work(tmp_path):
    """A DFT stage that cannot hand over its work (FireWorks without a reachable LaunchPad) fails the run; the
    optimized candidates stay in the store."""
    from flows.discovery import discovery

    config = _config(tmp_path, stages=["sample", "optimize", "dft_submit", "report"],
                     dft={"code": "vasp", "vasp": {"backend": "fireworks",
                                                   "launchpad_file": str(tmp_path / "missing.yaml")}})
    with pytest.raises(Exception, match="missing.yaml"):
        discovery(config)
    store = ResultsStore(default_store_url(tmp_path))
    assert len(store.candidates(config.run_id)) == 6
    assert store.run(config.run_id).status == "failed"


def test_start_from_an_earlier_run(tmp_path):
    from flows.discovery import discovery

    first = _config(tmp_path)
    discovery(first)
    second = _config(tmp_path, name="refine", initial={"kind": "previous_run", "run_id": first.run_id, "count": 4})
    summary = discovery(second)
    assert summary["n_samples"] == 4
    templates = ResultsStore(default_store_url(tmp_path)).candidates(second.run_id)["template"]
    assert all(t.startswith(first.run_id) for t in templates)


def test_postgresql_store(tmp_path, postgres_url):
    from flows.discovery import discovery

    config = _config(tmp_path, store_url=postgres_url, initial={"kind": "perovskite_templates", "count": 3})
    discovery(config)
    assert len(ResultsStore(postgres_url).candidates(config.run_id)) == 3
    assert not (tmp_path / "smoacs.sqlite").exists()


@pytest.mark.slow
def test_batches_fan_out_on_a_local_dask_cluster(tmp_path):
    from flows.discovery import discovery

    config = _config(tmp_path, task_runner="dask", max_parallel_batches=2)
    summary = discovery(config)
    assert summary["n_samples"] == 6 and set(summary["batches"].values()) == {"Completed"}


def test_free_crystals_from_a_sampled_data_set(tmp_path, data_dir):
    """The paper's free-crystal setting: initial structures sampled from a real MP data set (MP-20 layout)."""
    from flows.discovery import discovery

    sampling = {"source": {"kind": "mp20", "path": str(data_dir / "mp_20_subset")}, "n": 4, "seed": 1}
    config = _config(
        tmp_path, initial={"kind": "dataset", "sampling": sampling},
        optimization={"mode": "free", "steps": 5}, batch_size=4,
    )
    summary = discovery(config)
    assert summary["n_samples"] == 4 and summary["rates"]["neutral"] == 1.0
    templates = ResultsStore(default_store_url(tmp_path)).candidates(config.run_id)["template"]
    assert all(t.startswith("mp-") for t in templates)
    assert (config.run_dir / "initial" / "filter_report.json").exists()


def test_perovskite_mode_rejects_arbitrary_structures(tmp_path):
    with pytest.raises(ValueError, match="initial.kind"):
        _config(tmp_path, initial={"kind": "files", "path": str(tmp_path)})


@pytest.mark.slow
def test_prerelax_stage_reports_what_survives(tmp_path):
    """After SMOACS, M3GNet relaxes every candidate; the report puts the paper's metric and the relaxed rate side by side."""
    from flows.discovery import discovery

    config = _config(tmp_path, stages=["sample", "optimize", "prerelax", "report"],
                     initial={"kind": "perovskite_templates", "count": 4, "seed": 3},
                     optimization={"mode": "perovskite", "steps": 30}, batch_size=2,
                     prerelax={"max_steps": 60})
    summary = discovery(config)
    assert summary["relaxed"]["n_samples"] == 4
    assert 0.0 <= summary["relaxed"]["success_rate"] <= 1.0
    store = ResultsStore(default_store_url(tmp_path))
    candidates = store.candidates(config.run_id)
    assert (candidates["stage"] == "prerelaxed").all()
    assert candidates["prerelaxed.energy_per_atom"].notna().all()
    assert {"prerelaxed.band_gap", "prerelaxed.band_gap_drift", "prerelaxed.relax_converged"} <= set(candidates)
    relaxed_id = candidates["id"][0]
    assert store.structure(relaxed_id, "prerelaxed").composition == store.structure(relaxed_id, "optimized").composition
    report = (config.run_dir / "report" / "report.md").read_text()
    assert "after ML relaxation" in report
    again = discovery(config)  # resumes entirely from the cache
    assert again["relaxed"] == summary["relaxed"]


def test_hull_stage_places_candidates(tmp_path):
    """Candidates against the local reference (MP-20 formation energies + MP elemental references)."""
    from flows.discovery import discovery

    config = _config(tmp_path, stages=["sample", "optimize", "deduplicate", "hull", "report"],
                     initial={"kind": "perovskite_templates", "count": 4, "seed": 3}, batch_size=4)
    summary = discovery(config)
    assert summary["hull"]["stage"] == "optimized" and summary["hull"]["footing"] == "formation_energy"
    assert summary["hull"]["placed"] == 4
    candidates = ResultsStore(default_store_url(tmp_path)).candidates(config.run_id)
    assert candidates["optimized.e_above_hull"].notna().all()  # negative: below every known combination
    implausible = ~candidates["optimized.plausible_hull_energy"].astype(bool)
    assert summary["hull"]["implausibly_stable"] == implausible.sum()
    report = (config.run_dir / "report" / "report.md").read_text()
    assert "optimized.e_above_hull" in report


def test_deduplicate_stage_records_unique_and_novel(tmp_path):
    """Every candidate judged against the others and MP-20; counts in the summary agree with the store."""
    from flows.discovery import discovery

    config = _config(tmp_path, stages=["sample", "optimize", "deduplicate", "report"],
                     initial={"kind": "perovskite_templates", "count": 4, "seed": 3}, batch_size=4)
    summary = discovery(config)
    candidates = ResultsStore(default_store_url(tmp_path)).candidates(config.run_id)
    counts = summary["uniqueness"]
    assert counts["stage"] == "optimized" and counts["candidates"] == 4
    assert counts["unique"] == candidates["optimized.unique"].sum() >= 1
    assert counts["novel_structure"] == candidates["optimized.novel_structure"].sum()
    table = (config.run_dir / "uniqueness" / "optimized.csv").read_text()
    assert table.startswith("id,formula,success,duplicate_of,unique,known_composition")
    assert f"{counts['unique']} are unique" in (config.run_dir / "report" / "report.md").read_text()


def test_cross_check_stage_records_the_second_opinion(tmp_path):
    """M3GNet's formation energy beside MEGNet's, and a band-gap model the user supplies through a factory
    (tests/user_second_models.py) beside the run's; the store, table and report agree."""
    from flows.discovery import discovery
    from smoacs_core.cross_check import DEFAULT_MAX_DISAGREEMENT
    from smoacs_core.predictors.registry import load_predictor

    user_gap = {"my-gap": {"factory": "user_second_models:hse_band_gap", "property": "band_gap"}}
    thresholds = {**DEFAULT_MAX_DISAGREEMENT, "band_gap": 1.0}
    config = _config(tmp_path, stages=["sample", "optimize", "cross_check", "report"],
                     initial={"kind": "perovskite_templates", "count": 4, "seed": 3}, batch_size=4,
                     cross_check={"models": ["m3gnet-eform", "my-gap"], "user_models": user_gap,
                                  "max_disagreement": thresholds})
    summary = discovery(config)
    store = ResultsStore(default_store_url(tmp_path))
    candidates = store.candidates(config.run_id)
    structures = [store.structure(i, "optimized") for i in candidates["id"]]
    m3gnet = load_predictor("m3gnet-eform").predict(structures)
    hse = load_predictor("megnet-bandgap-hse").predict(structures)
    assert np.allclose(candidates["optimized.formation_energy_m3gnet-eform"], m3gnet, atol=1e-5)
    assert np.allclose(candidates["optimized.band_gap_my-gap"], hse, atol=1e-5)
    spread = np.abs(m3gnet - candidates["optimized.formation_energy"])
    gap_spread = np.abs(hse - candidates["optimized.band_gap"])
    assert np.allclose(candidates["optimized.formation_energy_disagreement"], spread, atol=1e-5)
    assert np.allclose(candidates["optimized.band_gap_disagreement"], gap_spread, atol=1e-5)
    agree = (spread <= thresholds["formation_energy"]) & (gap_spread <= thresholds["band_gap"])
    assert list(candidates["optimized.models_agree"].astype(bool)) == list(agree)
    check = summary["cross_check"]
    assert check["candidates"] == 4 and check["agree"] == int(agree.sum())
    assert check["mean_disagreement"]["band_gap"] == pytest.approx(gap_spread.mean(), abs=1e-5)
    assert (config.run_dir / "cross_check" / "optimized.csv").is_file()
    assert "Second models agree with the run's predictors on" in (config.run_dir / "report" / "report.md").read_text()
