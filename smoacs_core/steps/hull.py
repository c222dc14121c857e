"""Stage 'hull': candidates against the convex hull of known phases, ranked, plotted and reported.

`smoacs hull` calls it on an optimize/prerelax output or a CSV of formulas, the pipeline's task on a stage of
a run (energies and structures from the store); both get the same reference, placement and files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict
from pymatgen.core import Composition, Structure

from smoacs_core.hull.config import HullConfig
from smoacs_core.hull.placement import HullResult, place_on_hull
from smoacs_core.hull.reference import HullReference, load_reference
from smoacs_core.hull.report import write_hull
from smoacs_core.settings import SmoacsSettings


class HullInput(BaseModel):
    """Candidates (id, structure or composition, energy per atom on ``config.footing``) and where results go."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidates: list[tuple[str, Structure | Composition, float]]
    config: HullConfig
    out: Path
    target_errors: dict[str, float] | None = None
    """signed error of each candidate for the run's target (e.g. band_gap - 1.5): ranks candidates on the hull"""
    target_description: str | None = None
    plots: bool = True
    overwrite: bool = False


class HullOutput(BaseModel):
    """Each candidate's placement, the reference it was placed against and the ranked table (also on disk)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    results: list[HullResult]
    reference: HullReference
    ranked: pd.DataFrame

    @property
    def placed(self) -> list[HullResult]:
        return [r for r in self.results if r.e_above_hull is not None]

    @property
    def incomplete_systems(self) -> list[str]:
        """Chemical systems the reference lacks sub-systems of (energies above hull there are upper bounds)."""
        return sorted({r.chemical_system for r in self.results if not r.completeness.complete})


def hull(request: HullInput, settings: SmoacsSettings | None = None) -> HullOutput:
    """Load the reference for the candidates' chemical systems, place every candidate, write table, plots and
    report to ``out``."""
    systems = {
        frozenset(el.symbol for el in getattr(c, "composition", c).elements) for _, c, _ in request.candidates
    }
    reference = load_reference(request.config, settings or SmoacsSettings(), systems)
    results = place_on_hull(request.candidates, reference, request.config)
    ranked = write_hull(request.out, results, reference, request.config, request.target_errors,
                        request.target_description, request.plots, request.overwrite)
    return HullOutput(results=results, reference=reference, ranked=ranked)
