"""Stage 3: ML pre-relaxation of one optimized batch, judged again by the same criteria."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from pydantic import BaseModel

from smoacs_core.config import OptimizationConfig
from smoacs_core.files import FileRef
from smoacs_core.relax.potentials import ase_calculator, potential_identity
from smoacs_core.relax.relax import RelaxConfig
from smoacs_core.run import load_predictors
from smoacs_core.settings import SmoacsSettings
from smoacs_core.stages import StructureStage
from smoacs_core.steps.prerelax import TABLE_FILE, PrerelaxInput, prerelax
from tasks.common import open_store


class PrerelaxBatchResult(BaseModel):
    batch: int
    summary: dict
    table: FileRef


@task(name="prerelax-batch", persist_result=True)
def prerelax_batch(
    run_id: str,
    batch: int,
    candidate_ids: list[str],
    optimization: OptimizationConfig,
    relax: RelaxConfig,
    run_dir: str,
    store_url: str,
) -> PrerelaxBatchResult:
    """Relax a batch's optimized candidates, re-judge them, record structures, properties and drift."""
    logger = get_run_logger()
    store = open_store(store_url)
    templates = store.candidates(run_id).set_index("id").loc[candidate_ids, "template"]
    request = PrerelaxInput(
        candidates=[(i, store.structure(i, StructureStage.OPTIMIZED)) for i in candidate_ids],
        optimization=optimization, relax=relax, out=Path(run_dir) / "prerelaxed" / f"batch-{batch:04d}",
        optimized=str(Path(run_dir) / "batches" / f"batch-{batch:04d}"), templates=list(templates), batch=batch,
    )
    predictors = load_predictors(optimization, SmoacsSettings())
    relaxed = prerelax(request, predictors, ase_calculator(relax.potential, device=optimization.device))
    store.save_candidates(run_id, relaxed.records)
    summary = relaxed.summary
    logger.info("batch %d relaxed with %s: success %.3f unrelaxed -> %.3f relaxed; %s", batch,
                potential_identity(relax.potential), summary["success_rate_unrelaxed"],
                summary["success_rate_relaxed"], summary["relax_status"])
    return PrerelaxBatchResult(batch=batch, summary=summary, table=FileRef.of(relaxed.out / TABLE_FILE))
