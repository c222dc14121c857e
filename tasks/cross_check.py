"""Stage 'cross_check': second models judge the candidates the run's predictors chose (smoacs_core/cross_check.py).

Judges the structures of one stage (``prerelaxed`` when the run relaxed them, else ``optimized``) and records
there, per candidate, each second model's prediction (``formation_energy_m3gnet-eform``), the disagreement with
the run's own prediction (``formation_energy_disagreement``) and the criterion ``models_agree``. Writes
``<run_dir>/cross_check/<stage>.csv``.
"""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from pydantic import BaseModel

from smoacs_core.cross_check import AGREE, CrossCheckConfig, disagreement_table
from smoacs_core.files import FileRef
from smoacs_core.settings import SmoacsSettings
from smoacs_core.stages import Stage, StructureStage
from smoacs_core.store import PropertyValue
from smoacs_core.targets import PropertyTarget
from tasks.common import open_store, stored_candidates


class CrossCheckReport(BaseModel):
    run_id: str
    stage: str
    models: dict[str, str]
    """registered name -> model identity"""
    candidates: int
    agree: int
    mean_disagreement: dict[str, float]
    table: FileRef


@task(name="cross-check", persist_result=True)
def cross_check_candidates(
    run_id: str, run_dir: str, store_url: str, cross_check: CrossCheckConfig, targets: list[PropertyTarget],
    stage: StructureStage,
) -> CrossCheckReport:
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
        primary[prop] = table.loc[ids, column].astype(float).to_numpy()
    checks = cross_check.load(SmoacsSettings())
    judged = disagreement_table(ids, structures, primary, checks, cross_check.max_disagreement)
    out = Path(run_dir) / "cross_check"
    out.mkdir(parents=True, exist_ok=True)
    judged.to_csv(out / f"{stage}.csv", index=False)

    units = {model.property_name: model.unit for model in checks.values()}
    sources = {prop: ", ".join(m.identity for m in checks.values() if m.property_name == prop) for prop in units}
    properties = {
        row["id"]: [
            PropertyValue(stage, f"{m.property_name}_{name}", m.identity, row[f"{m.property_name}_{name}"], m.unit)
            for name, m in checks.items()
        ] + [
            PropertyValue(stage, f"{prop}_disagreement", sources[prop], row[f"{prop}_disagreement"], unit)
            for prop, unit in units.items()
        ]
        for row in judged.to_dict(orient="records")
    }
    store.save_properties(run_id, properties)
    store.save_criteria(run_id, stage, {row.id: {AGREE: bool(row.models_agree)} for row in judged.itertuples()})

    report = CrossCheckReport(
        run_id=run_id,
        stage=stage,
        models={name: model.identity for name, model in checks.items()},
        candidates=len(judged),
        agree=int(judged[AGREE].sum()),
        mean_disagreement={p: float(judged[f"{p}_disagreement"].mean()) for p in cross_check.properties()},
        table=FileRef.of(out / f"{stage}.csv"),
    )
    spread = ", ".join(f"mean |difference| {report.mean_disagreement[p]:.3f} on {p} (threshold "
                       f"{cross_check.max_disagreement[p]:g})" for p in cross_check.properties())
    message = f"{report.agree} of {report.candidates} {stage} candidates: second models agree; {spread}"
    store.set_stage(run_id, Stage.CROSS_CHECK, "completed", message)
    logger.info(message)
    return report
