"""Stage 3: ML pre-relaxation of one optimized batch, judged again by the same criteria."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from pydantic import BaseModel
from pymatgen.io.cif import CifWriter

from smoacs_core.config import OptimizationConfig
from smoacs_core.relax.potentials import ase_calculator, potential_identity
from smoacs_core.relax.relax import RelaxConfig, relax_structures
from smoacs_core.relax.survival import evaluate_relaxed, survival_summary
from smoacs_core.run import load_predictors
from smoacs_core.settings import SmoacsSettings
from smoacs_core.store import CandidateData, PropertyValue
from smoacs_core.templates import candidate_templates
from tasks.common import FileRef, open_store

STAGE = "prerelaxed"


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
    model_fingerprint: str,
) -> PrerelaxBatchResult:
    """Relax a batch's optimized candidates, re-judge them, record structures, properties and drift.

    ``model_fingerprint`` only keys the cache (new weights re-run the stage).
    """
    logger = get_run_logger()
    store = open_store(store_url)
    table = store.candidates(run_id)
    table = table[table["id"].isin(candidate_ids)].set_index("id").loc[candidate_ids].reset_index()
    optimized = [store.structure(candidate_id, "optimized") for candidate_id in candidate_ids]
    repeat = optimization.supercell_repeat if optimization.is_perovskite else None
    templates = candidate_templates(optimized, list(table["template"]), repeat)
    predictors = load_predictors(optimization, SmoacsSettings())
    calculator = ase_calculator(relax.potential, device=optimization.device)
    results = relax_structures(optimized, candidate_ids, calculator, relax)
    judged = evaluate_relaxed(optimized, results, templates, predictors, optimization, device=optimization.device)
    out = Path(run_dir) / "prerelaxed" / f"batch-{batch:04d}"
    (out / "structures").mkdir(parents=True, exist_ok=True)
    judged.insert(0, "candidate_id", candidate_ids)
    judged.to_csv(out / "prerelaxed.csv", index=False)
    potential = potential_identity(relax.potential)
    sources = {t.name: (predictors[t.predictor].identity, predictors[t.predictor].unit) for t in optimization.targets}
    criteria = [c for c in judged.columns if c.endswith("_ok") or c in ("neutral", "valid_structure", "success")]
    records = []
    for row, result, meta in zip(judged.itertuples(index=False), results, table.itertuples(index=False), strict=True):
        values = row._asdict()
        structures = {}
        if result.structure is not None:
            path = out / "structures" / f"{row.candidate_id}.cif"
            CifWriter(result.structure).write_file(path)
            structures[STAGE] = (result.structure, str(path))
        properties = [PropertyValue(STAGE, name, source, values[name], unit) for name, (source, unit) in sources.items()]
        properties += [PropertyValue(STAGE, f"{name}_drift", source, values[f"{name}_drift"], unit)
                       for name, (source, unit) in sources.items()]
        properties += [PropertyValue(STAGE, "energy_per_atom", potential, result.energy_per_atom, "eV/atom"),
                       PropertyValue(STAGE, "volume_ratio", potential, result.volume_ratio),
                       PropertyValue(STAGE, "relax_steps", potential, result.steps)]
        records.append(CandidateData(
            id=row.candidate_id, batch=batch, template=meta.template, formula=row.formula, stage=STAGE,
            success=bool(row.success), structures=structures, properties=properties,
            criteria={**{name: bool(values[name]) for name in criteria},
                      "relax_converged": result.converged, "matches_unrelaxed": bool(row.matches_unrelaxed)},
        ))
    store.save_candidates(run_id, records)
    summary = survival_summary(judged)
    logger.info("batch %d relaxed with %s: success %.3f unrelaxed -> %.3f relaxed; %s", batch, potential,
                summary["success_rate_unrelaxed"], summary["success_rate_relaxed"], summary["relax_status"])
    return PrerelaxBatchResult(batch=batch, summary=summary, table=FileRef.of(out / "prerelaxed.csv"))
