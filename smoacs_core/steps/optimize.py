"""Stage 'optimize': SMOACS on a batch of initial crystals, judged and written to a directory.

`smoacs optimize` calls it on its templates or files, the pipeline's task on one batch of a run; both get the
same files (``run_output``), the same table and the store records of every candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from pymatgen.core import Structure

from smoacs_core.config import OptimizationConfig
from smoacs_core.crystal import CrystalTemplate
from smoacs_core.evaluation import criterion_columns
from smoacs_core.optimizer import StepRecord, build_vocabulary
from smoacs_core.predictors import PropertyPredictor
from smoacs_core.reference import known_formulas
from smoacs_core.run import RunOutcome, run_optimization
from smoacs_core.run_output import prepare_output_dir, write_results
from smoacs_core.stages import StructureStage
from smoacs_core.store import CandidateData, PropertyValue
from smoacs_core.templates import perovskite_template, structure_templates

MEASURED_COLUMNS = ("min_distance", "tolerance_factor", "max_coord_deviation")
"""Evaluation numbers stored beside the predictions (criteria are stored as booleans)."""


class OptimizeInput(BaseModel):
    """Initial crystals (label, structure) and how to optimize them; results go to ``out``."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    structures: list[tuple[str, Structure]]
    config: OptimizationConfig
    out: Path
    batch: int = 0
    """Batch number within a run (the unit of caching and resumption)."""
    id_prefix: str = ""
    """Prefix of the store ids (a run's '<run>-b0003-'); files and tables keep the short ids."""
    novelty_reference: Path | None = None
    overwrite: bool = False


class OptimizeOutput(BaseModel):
    """The optimization, its judged table and summary (also on disk in ``out``), and the store records."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    outcome: RunOutcome
    rejected: list[tuple[str, str]]
    """initial crystals that could not be optimized, with the reason"""
    records: list[CandidateData]
    out: Path

    @property
    def success_rate(self) -> float:
        return self.outcome.summary["success_rate"]


def templates_for(
    structures: list[tuple[str, Structure]], config: OptimizationConfig, predictors: dict[str, PropertyPredictor]
) -> tuple[list[CrystalTemplate], list[tuple[str, str]]]:
    """Perovskite templates around each cell in perovskite modes; otherwise each crystal with the oxidation
    patterns of its composition (those without one are rejected with the reason)."""
    if config.is_perovskite:
        return [perovskite_template(s, label, config.supercell_repeat) for label, s in structures], []
    selection = structure_templates(
        [s for _, s in structures], [label for label, _ in structures], build_vocabulary(predictors, config),
        config.max_patterns,
    )
    return selection.templates, selection.rejected


def target_sources(
    config: OptimizationConfig, predictors: dict[str, PropertyPredictor]
) -> dict[str, tuple[str, str]]:
    """Each target property's model identity and unit, as the store records them beside every value."""
    return {t.name: (predictors[t.predictor].identity, predictors[t.predictor].unit) for t in config.targets}


def optimize(
    request: OptimizeInput,
    predictors: dict[str, PropertyPredictor],
    on_step: Callable[[StepRecord], None] | None = None,
) -> OptimizeOutput:
    """Optimize, judge on fresh one-hot graphs, write every file; raises ValueError if nothing can be optimized."""
    config = request.config
    templates, rejected = templates_for(request.structures, config, predictors)
    if not templates:
        reasons = "; ".join(f"{label}: {reason}" for label, reason in rejected[:5])
        raise ValueError(f"none of the {len(request.structures)} structures can be optimized ({reasons})")
    out = prepare_output_dir(request.out, request.overwrite)
    reference = request.novelty_reference
    outcome = run_optimization(
        templates, config, predictors, known_formulas(reference) if reference else None,
        str(reference) if reference else None, on_step=on_step,
    )
    outcome.summary["rejected_inputs"] = [{"label": label, "reason": reason} for label, reason in rejected]
    if request.id_prefix:
        outcome.table.insert(0, "candidate_id", [f"{request.id_prefix}{cid}" for cid in outcome.table["id"]])
    write_results(out, outcome.result, outcome.table, outcome.summary)
    records = candidate_records(outcome, request, predictors)
    return OptimizeOutput(outcome=outcome, rejected=rejected, records=records, out=out)


def candidate_records(
    outcome: RunOutcome, request: OptimizeInput, predictors: dict[str, PropertyPredictor]
) -> list[CandidateData]:
    """One store record per candidate: initial and optimized structures, predictions with the model that made
    them, the evaluation's measurements and every criterion."""
    stage = StructureStage.OPTIMIZED
    table = outcome.table
    sources = target_sources(request.config, predictors)
    measured = [c for c in MEASURED_COLUMNS if c in table.columns]
    criteria = criterion_columns(table)
    records = []
    for row, crystal, template in zip(
        table.to_dict("records"), outcome.result.crystals, outcome.result.templates, strict=True
    ):
        properties = [PropertyValue(stage, name, source, row[name], unit) for name, (source, unit) in sources.items()]
        properties += [PropertyValue(stage, name, "smoacs-evaluation", row[name]) for name in measured]
        records.append(CandidateData(
            id=f"{request.id_prefix}{row['id']}",
            batch=request.batch,
            template=template.label,
            formula=row["formula"],
            stage=stage,
            success=bool(row["success"]),
            structures={
                "initial": (template.structure, None),
                stage: (crystal.structure, str(request.out / "structures" / f"{row['id']}.cif")),
            },
            properties=properties,
            criteria={name: bool(row[name]) for name in criteria},
        ))
    return records
