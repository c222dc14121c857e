"""Stage 2: SMOACS on one batch of initial structures; the batch is the unit of caching and resumption."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from pydantic import BaseModel

from smoacs_core.config import OptimizationConfig
from smoacs_core.optimizer import build_vocabulary
from smoacs_core.reference import known_formulas
from smoacs_core.run import RunOutcome, load_predictors, run_optimization
from smoacs_core.run_output import prepare_output_dir, write_results
from smoacs_core.settings import SmoacsSettings
from smoacs_core.store import CandidateData, PropertyValue
from smoacs_core.templates import perovskite_template, structure_templates
from tasks.common import FileRef, open_store
from tasks.sample import InitialStructure

STAGE = "optimized"
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


def _templates(structures: list[InitialStructure], optimization: OptimizationConfig, predictors):
    perovskites = [s for s in structures if s.kind == "perovskite"]
    free = [s for s in structures if s.kind == "structure"]
    templates = [perovskite_template(s.load(), s.label, s.repeat) for s in perovskites]
    selection = structure_templates(
        [s.load() for s in free], [s.label for s in free], build_vocabulary(predictors, optimization),
        optimization.max_patterns,
    )
    return templates + selection.templates, selection.rejected


def _candidate_records(
    batch: int, outcome: RunOutcome, optimization: OptimizationConfig, out: Path, predictors
) -> list[CandidateData]:
    table = outcome.table
    sources = {t.name: (predictors[t.predictor].identity, predictors[t.predictor].unit) for t in optimization.targets}
    numeric = [c for c in ("min_distance", "tolerance_factor", "max_coord_deviation") if c in table.columns]
    criteria = [c for c in table.columns if c.endswith("_ok") or c in ("neutral", "valid_structure")]
    records = []
    for (_, row), crystal, template in zip(table.iterrows(), outcome.result.crystals, outcome.result.templates):
        properties = [PropertyValue(STAGE, name, source, row[name], unit) for name, (source, unit) in sources.items()]
        properties += [PropertyValue(STAGE, name, "smoacs-evaluation", row[name]) for name in numeric]
        records.append(
            CandidateData(
                id=row["candidate_id"],
                batch=batch,
                template=template.label,
                formula=row["formula"],
                stage=STAGE,
                success=bool(row["success"]),
                structures={
                    "initial": (template.structure, None),
                    STAGE: (crystal.structure, str(out / "structures" / f"{row['id']}.cif")),
                },
                properties=properties,
                criteria={name: bool(row[name]) for name in criteria + ["success"]},
            )
        )
    return records


@task(name="smoacs-optimize-batch", persist_result=True)
def optimize_batch(
    run_id: str,
    batch: int,
    structures: list[InitialStructure],
    optimization: OptimizationConfig,
    run_dir: str,
    store_url: str,
    model_fingerprint: str,
    novelty_reference: str | None = None,
) -> BatchResult:
    """Optimize one batch, judge it, write its files and its candidates (one transaction) to the store.

    ``model_fingerprint`` is not used in the body: it is part of the inputs so that new model weights
    invalidate the cache.
    """
    logger = get_run_logger()
    predictors = load_predictors(optimization, SmoacsSettings())
    templates, rejected = _templates(structures, optimization, predictors)
    for label, reason in rejected:
        logger.warning("batch %d: skipped %s: %s", batch, label, reason)
    if not templates:
        raise ValueError(f"batch {batch}: none of its {len(structures)} structures can be optimized")
    progress = create_progress_artifact(
        progress=0.0, key=f"{run_id}-batch-{batch:04d}".lower().replace("_", "-"),
        description=f"SMOACS optimization of batch {batch} of run {run_id}",
    )

    def on_step(record) -> None:
        if (record.step + 1) % _PROGRESS_EVERY == 0 or record.step + 1 == optimization.steps:
            update_progress_artifact(progress, 100.0 * (record.step + 1) / optimization.steps)

    known = known_formulas(novelty_reference) if novelty_reference else None
    outcome = run_optimization(templates, optimization, predictors, known, novelty_reference, on_step=on_step)
    outcome.table.insert(0, "candidate_id", [f"{run_id}-b{batch:04d}-{cid}" for cid in outcome.table["id"]])
    outcome.summary["rejected_inputs"] = [{"label": label, "reason": reason} for label, reason in rejected]
    out = prepare_output_dir(Path(run_dir) / "batches" / f"batch-{batch:04d}", overwrite=True)
    write_results(out, outcome.result, outcome.table, outcome.summary)
    records = _candidate_records(batch, outcome, optimization, out, predictors)
    open_store(store_url).save_candidates(run_id, records)
    logger.info("batch %d: %d candidates, success rate %.3f", batch, len(records), outcome.summary["success_rate"])
    return BatchResult(
        batch=batch,
        candidate_ids=[r.id for r in records],
        rejected=rejected,
        success_rate=outcome.summary["success_rate"],
        summary=FileRef.of(out / "summary.json"),
        candidates_csv=FileRef.of(out / "candidates.csv"),
        seconds=outcome.summary["timing"]["optimization_seconds"],
    )
