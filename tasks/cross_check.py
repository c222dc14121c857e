"""Stage 'cross_check' as a Prefect task: ``smoacs_core.steps.cross_check`` on a stage of the run, into the store.

Judges the structures of one stage (``prerelaxed`` when the run relaxed them, else ``optimized``) and records
there, per candidate, each second model's prediction (``formation_energy_m3gnet-eform``), the disagreement with
the run's own prediction (``formation_energy_disagreement``) and the criterion ``models_agree``. Writes
``<run_dir>/cross_check/<stage>.csv``.
"""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from smoacs_core.cross_check import CrossCheckConfig
from smoacs_core.stages import Stage, StructureStage
from smoacs_core.steps.cross_check import CrossCheckInput, CrossCheckOutput
from smoacs_core.steps.cross_check import cross_check as check
from smoacs_core.targets import PropertyTarget
from tasks.common import open_store, stored_candidates


@task(name="cross-check", persist_result=True)
def cross_check_candidates(
    run_id: str, run_dir: str, store_url: str, cross_check: CrossCheckConfig, targets: list[PropertyTarget],
    stage: StructureStage,
) -> CrossCheckOutput:
    """Predict the judged structures with the second models and record where they disagree with the run's
    predictions of the ``targets`` they share (new weights of either side re-run the cached stage)."""
    logger = get_run_logger()
    store = open_store(store_url)
    table = stored_candidates(store, run_id, "cross-check").set_index("id")
    found = store.structures(table.index, stage)
    for candidate_id in table.index.difference(list(found)):
        logger.warning("candidate %s has no %s structure: left out of the cross-check", candidate_id, stage)
    ids, structures = list(found), list(found.values())
    primary = {}
    targeted = {t.name for t in targets}
    for prop in cross_check.properties():
        column = f"{stage}.{prop}"
        if prop not in targeted or column not in table.columns:
            raise ValueError(f"cross_check: run {run_id} has no '{column}' prediction to compare with; the second "
                             f"models must predict a property the run's targets predict ({sorted(targeted)})")
        primary[prop] = table.loc[ids, column].astype(float).tolist()
    request = CrossCheckInput(candidates=list(zip(ids, structures, strict=True)), primary=primary,
                              cross_check=cross_check, stage=stage, out=Path(run_dir) / "cross_check" / f"{stage}.csv")
    judged = check(request)
    store.save_properties(run_id, judged.properties)
    store.save_criteria(run_id, stage, judged.criteria)
    message = judged.describe(cross_check.max_disagreement)
    store.set_stage(run_id, Stage.CROSS_CHECK, "completed", message)
    logger.info(message)
    return judged
