"""Stage 'prerelax': relax optimized candidates with an ML potential and judge them again by the same criteria.

`smoacs prerelax` calls it on an optimize output directory, the pipeline's task on one batch of a run. The
paper's metric judges unrelaxed structures; this step says what survives relaxation, and by how much every
prediction drifts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from ase.calculators.calculator import Calculator
from pydantic import BaseModel, ConfigDict
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from smoacs_core.config import OptimizationConfig
from smoacs_core.evaluation import criterion_columns
from smoacs_core.predictors import PropertyPredictor
from smoacs_core.relax.potentials import potential_identity
from smoacs_core.relax.relax import RelaxConfig, RelaxResult, relax_structures
from smoacs_core.relax.survival import evaluate_relaxed, survival_summary
from smoacs_core.stages import StructureStage
from smoacs_core.steps.optimize import target_sources
from smoacs_core.store import CandidateData, PropertyValue
from smoacs_core.templates import candidate_templates

TABLE_FILE = "prerelaxed.csv"


class PrerelaxInput(BaseModel):
    """Optimized candidates (id, structure), the optimization that made them, and how to relax them."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    candidates: list[tuple[str, Structure]]
    optimization: OptimizationConfig
    relax: RelaxConfig
    out: Path
    optimized: str
    """Where the optimized candidates came from (an optimize output directory), recorded in the summary."""
    templates: list[str] | None = None
    """Each candidate's initial template (store records); default: the candidate ids."""
    batch: int = 0


class PrerelaxOutput(BaseModel):
    """The judged table (also ``out/prerelaxed.csv``), each relaxation, the summary and the store records."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    table: pd.DataFrame
    results: list[RelaxResult]
    summary: dict
    records: list[CandidateData]
    out: Path


def prerelax(
    request: PrerelaxInput,
    predictors: dict[str, PropertyPredictor],
    calculator: Calculator,
    on_done: Callable[[RelaxResult], None] | None = None,
) -> PrerelaxOutput:
    """Relax, judge relaxed and unrelaxed structures on the same criteria, write structures, table, summary."""
    config = request.optimization
    ids = [candidate_id for candidate_id, _ in request.candidates]
    optimized = [structure for _, structure in request.candidates]
    repeat = config.supercell_repeat if config.is_perovskite else None
    templates = candidate_templates(optimized, ids, repeat)
    results = relax_structures(optimized, ids, calculator, request.relax, on_done=on_done)
    table = evaluate_relaxed(optimized, results, templates, predictors, config, device=config.device)
    table["id"] = ids  # the evaluation numbers candidates c00000...; keep the real ids
    out = request.out
    (out / "structures").mkdir(parents=True, exist_ok=True)
    for result in results:
        if result.structure is not None:
            CifWriter(result.structure).write_file(out / "structures" / f"{result.label}.cif")
    table.to_csv(out / TABLE_FILE, index=False)
    summary = {**survival_summary(table), "relax": request.relax.model_dump(), "optimized": request.optimized}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    records = _records(request, table, results, predictors)
    return PrerelaxOutput(table=table, results=results, summary=summary, records=records, out=out)


def _records(
    request: PrerelaxInput, table: pd.DataFrame, results: list[RelaxResult], predictors: dict[str, PropertyPredictor]
) -> list[CandidateData]:
    """Relaxed structure, predictions and their drift, the potential's energy and the relaxation's outcome."""
    stage = StructureStage.PRERELAXED
    sources = target_sources(request.optimization, predictors)
    potential = potential_identity(request.relax.potential)
    criteria = criterion_columns(table)
    templates = request.templates or [candidate_id for candidate_id, _ in request.candidates]
    records = []
    for row, result, template in zip(table.to_dict("records"), results, templates, strict=True):
        structures = {}
        if result.structure is not None:
            structures[stage] = (result.structure, str(request.out / "structures" / f"{row['id']}.cif"))
        properties = [PropertyValue(stage, name, source, row[name], unit) for name, (source, unit) in sources.items()]
        properties += [PropertyValue(stage, f"{name}_drift", source, row[f"{name}_drift"], unit)
                       for name, (source, unit) in sources.items()]
        properties += [PropertyValue(stage, "energy_per_atom", potential, result.energy_per_atom, "eV/atom"),
                       PropertyValue(stage, "volume_ratio", potential, result.volume_ratio),
                       PropertyValue(stage, "relax_steps", potential, result.steps)]
        records.append(CandidateData(
            id=row["id"], batch=request.batch, template=template, formula=row["formula"], stage=stage,
            success=bool(row["success"]), structures=structures, properties=properties,
            criteria={**{name: bool(row[name]) for name in criteria},
                      "relax_converged": result.converged, "matches_unrelaxed": bool(row["matches_unrelaxed"])},
        ))
    return records
