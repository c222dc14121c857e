"""Stage: the run's candidates against the convex hull; energy above hull recorded per candidate.

Reads the candidates of one stage (``optimized``, ``prerelaxed``, ...) from the store: their structures and
the energy property that matches the hull's footing, places them with ``smoacs_core.hull``, writes the ranked
table, plots and report under ``<run_dir>/hull/<stage>/`` and records ``e_above_hull`` per candidate as a
property of that stage (source: the reference's name).
"""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from pydantic import BaseModel

from smoacs_core.confirmation import hull_criteria
from smoacs_core.files import FileRef
from smoacs_core.hull.config import HullConfig
from smoacs_core.hull.reference import ReferenceInfo
from smoacs_core.hull.report import PLOTS_DIR, REPORT_FILE, TABLE_FILE
from smoacs_core.stages import Stage, StructureStage
from smoacs_core.steps.hull import HullInput, hull
from smoacs_core.store import PropertyValue
from smoacs_core.targets import PropertyTarget, range_target_errors
from tasks.common import open_store, stored_candidates

ENERGY_PROPERTIES = {"formation_energy": "formation_energy", "total_energy": "energy_per_atom"}
"""The store property holding each footing's energy: MEGNet's E_f (SMOACS, pre-relaxation) and the ML
potential's total energy per atom (pre-relaxation)."""


class HullReport(BaseModel):
    """What the hull stage found, and where its files are."""

    run_id: str
    stage: str
    footing: str
    reference: ReferenceInfo
    candidates: int
    placed: int
    on_hull: int
    implausibly_stable: int
    """placed more than ``implausible_below_hull`` below the known hull (suspect; see hull.csv warnings)"""
    without_structure: list[str]
    """candidates with no structure at this stage (e.g. a failed relaxation): not placed"""
    incomplete_systems: list[str]
    table: FileRef
    report: FileRef
    plots: list[FileRef]


@task(name="convex-hull", persist_result=True)
def place_candidates_on_hull(
    run_id: str,
    run_dir: str,
    store_url: str,
    hull_config: HullConfig,
    targets: list[PropertyTarget],
    stage: StructureStage = StructureStage.OPTIMIZED,
    energy_property: str | None = None,
    max_e_above_hull: float | None = None,
) -> HullReport:
    """Place every candidate of ``stage`` against the hull of ``hull_config``'s reference.

    ``energy_property`` defaults to the footing's (formation_energy, or energy_per_atom for total energies).
    Ranking uses the first of the run's ``targets`` that is a range (e.g. the band gap) as the target error.
    With ``max_e_above_hull``, every placed candidate also gets the DFT confirmation's hull criterion.
    """
    logger = get_run_logger()
    store = open_store(store_url)
    table = stored_candidates(store, run_id, "place on the hull")
    column = f"{stage}.{energy_property or ENERGY_PROPERTIES[hull_config.footing]}"
    if column not in table.columns:
        raise ValueError(f"run {run_id}: no property '{column}' in the store (has stage '{stage}' run?)")
    found = store.structures(table["id"], stage)
    candidates = [(i, found[i], energy) for i, energy in zip(table["id"], table[column], strict=True) if i in found]
    without_structure = [i for i in table["id"] if i not in found]
    if not candidates:
        raise ValueError(f"run {run_id}: no candidate has a '{stage}' structure")
    errors, description = range_target_errors(targets, table, column_prefix=f"{stage}.")
    out = Path(run_dir) / "hull" / stage
    placed_all = hull(HullInput(candidates=candidates, config=hull_config, out=out, target_errors=errors,
                                target_description=description, overwrite=True))
    reference, results = placed_all.reference, placed_all.results
    store.save_properties(
        run_id,
        {
            r.id: [PropertyValue(stage, "e_above_hull", reference.name, r.e_above_hull, "eV/atom")]
            for r in results
        },
    )
    criteria = {r.id: {"plausible_hull_energy": not r.implausibly_stable} for r in results}
    if max_e_above_hull is not None:
        for candidate, criterion in hull_criteria({r.id: r.e_above_hull for r in results}, max_e_above_hull).items():
            criteria[candidate] |= criterion
    store.save_criteria(run_id, stage, criteria)
    incomplete, placed = placed_all.incomplete_systems, placed_all.placed
    on_hull = sum(bool(r.on_hull) for r in placed)
    message = (
        f"{len(placed)} of {len(table)} {stage} candidates placed against '{reference.name}', "
        f"{on_hull} on the hull"
    )
    implausible = sum(r.implausibly_stable for r in placed)
    if implausible:
        message += f", {implausible} implausibly far below it (> {hull_config.implausible_below_hull} eV/atom)"
    store.set_stage(run_id, Stage.HULL, "completed", message)
    logger.info("%s (%s footing; %s)", message, hull_config.footing, reference.info().description)
    if incomplete:
        logger.warning(
            "reference '%s' is incomplete for %d of %d chemical systems: %s",
            reference.name,
            len(incomplete),
            len({r.chemical_system for r in results}),
            ", ".join(incomplete[:10]),
        )
    if without_structure:
        logger.warning(
            "%d candidates have no %s structure and were not placed", len(without_structure), stage
        )
    return HullReport(
        run_id=run_id,
        stage=stage,
        footing=hull_config.footing,
        reference=reference.info(),
        candidates=len(table),
        placed=len(placed),
        on_hull=on_hull,
        implausibly_stable=implausible,
        without_structure=without_structure,
        incomplete_systems=incomplete,
        table=FileRef.of(out / TABLE_FILE),
        report=FileRef.of(out / REPORT_FILE),
        plots=[FileRef.of(p) for p in sorted((out / PLOTS_DIR).glob("*.png"))],
    )
