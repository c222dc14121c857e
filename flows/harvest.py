"""The DFT harvest flow, scheduled every 15 minutes in deployments/prefect.yaml.

It collects finished VASP calculations of every run (or one), records them in the store, places the
candidates with new DFT energies on the convex hull (total energies with MP2020 corrections, against the
run's hull reference) and rewrites each touched run's report, so the DFT-confirmed rate appears there.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.config import DiscoveryConfig
from smoacs_core.settings import SmoacsSettings
from smoacs_core.stages import StructureStage, judged_stage
from smoacs_core.store import default_store_url
from tasks.common import cache_policy, open_store
from tasks.dft import harvest_dft, runs_with_open_calculations
from tasks.hull import place_candidates_on_hull
from tasks.report import write_report
from vasp_inputs.results import DftCode


def place_dft_energies_on_hull(config: DiscoveryConfig, run_id: str, store_url: str) -> None:
    """VASP energies (MP input set, so MP2020 corrections apply) against the run's hull reference; where that
    reference is on the MP2020 footing too, the energy above hull joins the DFT confirmation
    (``dft.max_e_above_hull``), otherwise it is shown only and the report says why.

    GPAW total energies are on a different footing from the Materials Project's VASP energies (other PAW
    setups, no fitted corrections), so they are not placed; the report says so.
    """
    table = open_store(store_url).dft_calculations(run_id, ["completed"])
    if not any(DftCode(code).on_materials_project_footing for code in set(table["code"])):
        return
    hull_config = config.hull.model_copy(update={"footing": "total_energy"})
    hull = place_candidates_on_hull.with_options(cache_policy=cache_policy(config.results_dir), refresh_cache=True)
    hull(run_id, str(config.run_dir), store_url, hull_config, config.optimization.targets, StructureStage.DFT,
         "energy_per_atom", config.dft.max_e_above_hull if hull_config.mp2020_footing else None)


@flow(name="dft-harvest")
def dft_harvest(store_url: str | None = None, run_id: str | None = None) -> dict[str, dict[str, str]]:
    """Collect finished DFT calculations of every run in the store (or of ``run_id``); returns run ->
    candidate -> status of the calculations that were open."""
    logger = get_run_logger()
    store_url = store_url or default_store_url(SmoacsSettings().results_dir)
    store = open_store(store_url)
    harvested = {}
    for open_run in runs_with_open_calculations(store, run_id):
        config = DiscoveryConfig.model_validate(store.run(open_run).config)
        report = harvest_dft(store_url, open_run, config.dft, config.optimization.targets,
                             judged_stage(config.stages))
        harvested[open_run] = report.statuses
        if not report.newly_completed:
            continue
        place_dft_energies_on_hull(config, open_run, store_url)
        novelty = str(config.novelty_reference) if config.novelty_reference else None
        write_report(open_run, str(config.run_dir), store_url, config.optimization.targets,
                     judged_stage(config.stages), {}, novelty, config.dft.max_e_above_hull)
        logger.info("run %s: %d DFT calculations completed; report rewritten", open_run, report.newly_completed)
    return harvested
