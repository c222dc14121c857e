"""Stage 2: SMOACS on one batch of initial structures; the batch is the unit of caching and resumption."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from pydantic import BaseModel

from smoacs_core.config import OptimizationConfig
from smoacs_core.files import FileRef
from smoacs_core.run import load_predictors
from smoacs_core.settings import SmoacsSettings
from smoacs_core.steps.optimize import OptimizeInput, optimize
from smoacs_core.steps.sample import InitialStructure
from tasks.common import artifact_key, open_store

_PROGRESS_EVERY = 10


class BatchResult(BaseModel):
    """What one optimization batch produced (files by path and hash; candidates are in the store)."""

    batch: int
    candidate_ids: list[str]
    rejected: list[tuple[str, str]]
    success_rate: float
    summary: FileRef
    candidates_csv: FileRef
    seconds: float


@task(name="smoacs-optimize-batch", persist_result=True)
def optimize_batch(
    run_id: str,
    batch: int,
    structures: list[InitialStructure],
    optimization: OptimizationConfig,
    run_dir: str,
    store_url: str,
    novelty_reference: str | None = None,
) -> BatchResult:
    """Optimize one batch, judge it, write its files and its candidates (one transaction) to the store."""
    logger = get_run_logger()
    predictors = load_predictors(optimization, SmoacsSettings())
    progress = create_progress_artifact(
        progress=0.0, key=artifact_key(run_id, f"batch-{batch:04d}"),
        description=f"SMOACS optimization of batch {batch} of run {run_id}",
    )

    def on_step(record) -> None:
        if (record.step + 1) % _PROGRESS_EVERY == 0 or record.step + 1 == optimization.steps:
            update_progress_artifact(progress, 100.0 * (record.step + 1) / optimization.steps)

    request = OptimizeInput(
        structures=[(s.label, s.load()) for s in structures], config=optimization,
        out=Path(run_dir) / "batches" / f"batch-{batch:04d}", batch=batch, id_prefix=f"{run_id}-b{batch:04d}-",
        novelty_reference=novelty_reference, overwrite=True,
    )
    try:
        optimized = optimize(request, predictors, on_step=on_step)
    except ValueError as error:
        raise ValueError(f"batch {batch}: {error}") from error
    for label, reason in optimized.rejected:
        logger.warning("batch %d: skipped %s: %s", batch, label, reason)
    open_store(store_url).save_candidates(run_id, optimized.records)
    logger.info("batch %d: %d candidates, success rate %.3f", batch, len(optimized.records), optimized.success_rate)
    return BatchResult(
        batch=batch,
        candidate_ids=[r.id for r in optimized.records],
        rejected=optimized.rejected,
        success_rate=optimized.success_rate,
        summary=FileRef.of(optimized.out / "summary.json"),
        candidates_csv=FileRef.of(optimized.out / "candidates.csv"),
        seconds=optimized.outcome.summary["timing"]["optimization_seconds"],
    )
