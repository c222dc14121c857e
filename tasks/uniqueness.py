"""Stage 'deduplicate' as a Prefect task: ``smoacs_core.steps.deduplicate`` on a stage of the run, into the store.

Judges the candidates of one stage (``prerelaxed`` when the run relaxed them: relaxation often makes different
optimized cells the same crystal; ``optimized`` otherwise) and records the criteria at that stage; the table goes
to ``<run_dir>/uniqueness/<stage>.csv``.
"""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from smoacs_core.stages import Stage, StructureStage
from smoacs_core.steps.deduplicate import DeduplicateInput, DeduplicateOutput, deduplicate
from smoacs_core.uniqueness import NoveltyConfig
from tasks.common import open_store, stored_candidates


@task(name="deduplicate", persist_result=True)
def deduplicate_candidates(
    run_id: str, run_dir: str, store_url: str, novelty: NoveltyConfig,
    stage: StructureStage = StructureStage.OPTIMIZED,
) -> DeduplicateOutput:
    """Mark duplicates within the run and candidates the reference already holds (successes kept first)."""
    logger = get_run_logger()
    store = open_store(store_url)
    table = stored_candidates(store, run_id, "de-duplicate").sort_values(["success", "id"], ascending=[False, True])
    found = store.structures(table["id"], stage)
    for candidate_id in table["id"]:
        if candidate_id not in found:
            logger.warning("candidate %s has no %s structure: left out of de-duplication", candidate_id, stage)
    success = dict(zip(table["id"], table["success"], strict=True))
    request = DeduplicateInput(candidates=[(i, s, bool(success[i])) for i, s in found.items()], novelty=novelty,
                               out=Path(run_dir) / "uniqueness" / f"{stage}.csv")
    judged = deduplicate(request)
    store.save_criteria(run_id, stage, judged.criteria)
    message = judged.describe(stage)
    store.set_stage(run_id, Stage.DEDUPLICATE, "completed", message)
    logger.info(message)
    return judged
