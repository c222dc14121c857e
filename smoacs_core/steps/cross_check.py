"""Stage 'cross_check': second models predict the candidates again; where they disagree with the run's own
predictions, the candidate is uncertain (``smoacs_core.cross_check``).

Returns the table (also written to ``out``), the per-candidate properties the store records (each second
model's prediction and the disagreement, labelled with the models that made them) and the criterion
``models_agree``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict
from pymatgen.core import Structure

from smoacs_core.cross_check import AGREE, CrossCheckConfig, disagreement_table
from smoacs_core.files import FileRef
from smoacs_core.settings import SmoacsSettings
from smoacs_core.stages import StructureStage
from smoacs_core.store import PropertyValue


class CrossCheckInput(BaseModel):
    """Candidates (id, structure) judged at ``stage``, the run's own predictions per property (same order)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidates: list[tuple[str, Structure]]
    primary: dict[str, list[float]]
    cross_check: CrossCheckConfig
    stage: StructureStage
    out: Path


class CrossCheckOutput(BaseModel):
    """Which models judged, how often they agree, and what the store records."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stage: str
    models: dict[str, str]
    """registered name -> model identity"""
    candidates: int
    agree: int
    mean_disagreement: dict[str, float]
    table: FileRef
    properties: dict[str, list[PropertyValue]]
    criteria: dict[str, dict[str, bool]]

    def describe(self, max_disagreement: dict[str, float]) -> str:
        spread = ", ".join(f"mean |difference| {value:.3f} on {prop} (threshold {max_disagreement[prop]:g})"
                           for prop, value in self.mean_disagreement.items())
        return f"{self.agree} of {self.candidates} {self.stage} candidates: second models agree; {spread}"


def cross_check(request: CrossCheckInput, settings: SmoacsSettings | None = None) -> CrossCheckOutput:
    """Predict with every second model, compare with the run's predictions, write the table."""
    config, stage = request.cross_check, request.stage
    checks = config.load(settings or SmoacsSettings())
    ids = [i for i, _ in request.candidates]
    judged = disagreement_table(ids, [s for _, s in request.candidates], request.primary, checks,
                                config.max_disagreement)
    request.out.parent.mkdir(parents=True, exist_ok=True)
    judged.to_csv(request.out, index=False)
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
    return CrossCheckOutput(
        stage=stage,
        models={name: model.identity for name, model in checks.items()},
        candidates=len(judged),
        agree=int(judged[AGREE].sum()),
        mean_disagreement={p: float(judged[f"{p}_disagreement"].mean()) for p in config.properties()},
        table=FileRef.of(request.out),
        properties=properties,
        criteria={row.id: {AGREE: bool(row.models_agree)} for row in judged.itertuples()},
    )
