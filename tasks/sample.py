"""Stage 1 as a Prefect task: the run's initial crystals (``smoacs_core.steps.sample``), recorded in the store."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from pymatgen.core import Structure

from smoacs_core.config import OptimizationConfig
from smoacs_core.stages import Stage, StructureStage
from smoacs_core.steps.sample import InitialStructures, InitialStructureSet, sample
from tasks.common import open_store


def _candidate_structures(store_url: str, run_id: str) -> list[tuple[str, Structure]]:
    store = open_store(store_url)
    table = store.candidates(run_id)
    if table.empty:
        raise ValueError(f"initial.run_id: run '{run_id}' has no candidates in {store.display_url}")
    return [(candidate, store.structure(candidate, StructureStage.OPTIMIZED)) for candidate in table["id"]]


@task(name="sample-initial-structures", persist_result=True)
def sample_initial_structures(
    initial: InitialStructures, optimization: OptimizationConfig, run_dir: str, store_url: str, run_id: str
) -> InitialStructureSet:
    """Generate perovskite templates, sample a data set, read structure files, or take an earlier run's candidates."""
    logger = get_run_logger()
    directory = Path(run_dir) / "initial"
    earlier = _candidate_structures(store_url, initial.run_id) if initial.kind == "previous_run" else None
    sampled = sample(initial, optimization, directory, earlier)
    if sampled.report is not None:
        logger.info("sampled %d of %d entries read from %s", sampled.report.chosen, sampled.report.read,
                    sampled.report.source)
    count = len(sampled.structures)
    open_store(store_url).set_stage(run_id, Stage.SAMPLE, "completed", f"{count} initial structures")
    logger.info("%d initial structures (%s) in %s", count, initial.kind, directory)
    return sampled
