"""Hull results for people: a ranked table, phase-diagram plots of binary and ternary systems, files on disk.

Layout written by ``write_hull``::

    hull.csv             one row per candidate, ranked (see ``rank_candidates``)
    plots/<system>.png   the reference's hull of each binary/ternary system, candidates marked with stars
    hull.json            footing, reference, configuration, per-system completeness, warnings, every result;
                         written last, so its presence means the output is complete
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pymatgen.analysis.phase_diagram import PDPlotter, triangular_coord  # noqa: E402
from pymatgen.core import Composition  # noqa: E402

from smoacs_core import __version__  # noqa: E402
from smoacs_core.hull.config import HullConfig  # noqa: E402
from smoacs_core.hull.placement import HullResult, phase_diagram  # noqa: E402
from smoacs_core.hull.reference import HullReference  # noqa: E402

REPORT_FILE = "hull.json"
TABLE_FILE = "hull.csv"
PLOTS_DIR = "plots"
FOOTING_DESCRIPTIONS = {
    "formation_energy": "candidates' energies are formation energies per atom relative to the elements "
    "(eV/atom); reference total energies were converted to formation energies with their elemental energies",
    "total_energy": "candidates' energies are total energies per atom (eV/atom), corrected with the "
    "reference's scheme and converted to formation energies with the reference's elemental energies",
}
_SHOW_UNSTABLE = 0.1
"""Reference phases up to this far above the hull (eV/atom) are drawn (unlabelled) in plots."""


class HullOutputExistsError(FileExistsError):
    """The output directory already holds hull results; they are never overwritten silently."""


def hull_table(
    results: Sequence[HullResult], target_errors: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per result; ``target_errors`` (optional): candidate id -> signed error of the target."""
    rows = []
    for result in results:
        row = {
            "id": result.id,
            "formula": result.formula,
            "chemical_system": result.chemical_system,
            "e_above_hull": result.e_above_hull,
            "on_hull": result.on_hull,
            "implausibly_stable": result.implausibly_stable,
            "formation_energy_per_atom": result.formation_energy_per_atom,
            "energy_per_atom": result.energy_per_atom,
            "decomposition": " + ".join(f"{p.fraction:.3f} {p.formula}" for p in result.decomposition),
            "decomposition_ids": " ".join(p.id.replace(" ", "_") for p in result.decomposition),
            "reference_complete": result.completeness.complete,
            "missing_subsystems": " ".join(result.completeness.missing_subsystems),
            "warnings": " | ".join(result.warnings),
        }
        if target_errors is not None:
            row["target_error"] = target_errors.get(result.id, np.nan)
        rows.append(row)
    numbers = ["e_above_hull", "formation_energy_per_atom", "energy_per_atom"]
    return pd.DataFrame(rows).astype({column: float for column in numbers})


def rank_candidates(table: pd.DataFrame, target_error_column: str | None = "target_error") -> pd.DataFrame:
    """Rows ordered by energy above hull (clipped at 0: everything on or below the known hull ties), then by
    |target error| (when the column is there), then by the raw energy above hull; a 1-based ``rank`` first.

    Candidates that could not be placed (no energy above hull) come last.
    """
    keys = [table["e_above_hull"].astype(float).clip(lower=0.0).fillna(np.inf)]
    if target_error_column and target_error_column in table.columns:
        keys.append(table[target_error_column].astype(float).abs().fillna(np.inf))
    keys.append(table["e_above_hull"].astype(float).fillna(np.inf))
    order = np.lexsort([k.to_numpy() for k in reversed(keys)])
    ranked = table.iloc[order].reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def plot_system(
    reference: HullReference, results: Sequence[HullResult], path: Path, footing: str
) -> Path | None:
    """The reference's hull of the results' (one) chemical system with the candidates as stars; binary and
    ternary systems only (None otherwise). A candidate's star sits at its formation energy (binary) or its
    composition (ternary), labelled with its id and energy above hull."""
    (system,) = {r.chemical_system for r in results}
    elements = system.split("-")
    placed = [r for r in results if r.e_above_hull is not None]
    if len(elements) not in (2, 3) or not placed:
        return None
    diagram = phase_diagram(reference, elements)
    axis = PDPlotter(diagram, show_unstable=_SHOW_UNSTABLE, backend="matplotlib").get_plot(
        label_unstable=False
    )
    for result in placed:
        coords = diagram.pd_coords(Composition(result.formula))
        x, y = (
            (coords[0], result.formation_energy_per_atom) if len(elements) == 2 else triangular_coord(coords)
        )
        axis.plot(x, y, marker="*", color="tab:red", markersize=18, linestyle="none")
        axis.annotate(
            f"{result.id}\n{1000 * result.e_above_hull:+.0f} meV/atom",
            (x, y),
            xytext=(8, 8),
            textcoords="offset points",
            fontsize=11,
            color="tab:red",
        )
    if len(elements) == 2:
        low, high = axis.get_ylim()
        energies = [r.formation_energy_per_atom for r in placed]
        axis.set_ylim(min(low, min(energies) - 0.1), max(high, max(energies) + 0.1))
        axis.set_xlabel(f"atomic fraction of {diagram.elements[1]}", fontsize=16)
        axis.set_ylabel("formation energy (eV/atom)", fontsize=16)
    else:
        axis.set_adjustable("box")  # equal aspect by resizing the box: the triangle's limits stay as set
    axis.set_title(f"{system}: reference '{reference.name}', {footing}", fontsize=14)
    path.parent.mkdir(parents=True, exist_ok=True)
    axis.figure.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(axis.figure)
    return path


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Refuse a directory that already holds hull results, unless ``overwrite``."""
    if not overwrite and ((out / REPORT_FILE).exists() or (out / TABLE_FILE).exists()):
        raise HullOutputExistsError(f"{out} already holds hull results; choose another --out or --overwrite")


def write_hull(
    out: Path,
    results: Sequence[HullResult],
    reference: HullReference,
    config: HullConfig,
    target_errors: Mapping[str, float] | None = None,
    target_error_description: str | None = None,
    plots: bool = True,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Write the ranked table, the plots and the report to ``out``; returns the ranked table."""
    out = Path(out)
    check_output_dir(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    if (out / PLOTS_DIR).is_dir():
        shutil.rmtree(out / PLOTS_DIR)  # no stale plot of an earlier run survives an --overwrite
    ranked = rank_candidates(hull_table(results, target_errors))
    ranked.to_csv(out / TABLE_FILE, index=False)
    systems: dict[str, list[HullResult]] = {}
    for result in results:
        systems.setdefault(result.chemical_system, []).append(result)
    plotted = {}
    if plots:
        for system, members in systems.items():
            path = plot_system(reference, members, out / PLOTS_DIR / f"{system}.png", config.footing)
            if path is not None:
                plotted[system] = str(path.relative_to(out))
    report = {
        "footing": config.footing,
        "footing_description": FOOTING_DESCRIPTIONS[config.footing],
        "reference": reference.info().model_dump(),
        "config": config.model_dump(mode="json"),
        "target_error": target_error_description,
        "counts": {
            "candidates": len(results),
            "placed": sum(r.e_above_hull is not None for r in results),
            "on_hull": sum(bool(r.on_hull) for r in results),
            "systems": len(systems),
            "systems_with_incomplete_reference": sum(
                not m[0].completeness.complete for m in systems.values()
            ),
        },
        "systems": {
            system: {**members[0].completeness.model_dump(), "plot": plotted.get(system)}
            for system, members in sorted(systems.items())
        },
        "warnings": sorted({w for r in results for w in r.warnings}),
        "skipped_reference_entries": [{"id": i, "reason": reason} for i, reason in reference.skipped],
        "results": [r.model_dump(exclude={"reference"}) for r in results],
        "smoacs_version": __version__,
    }
    temporary = out / f"{REPORT_FILE}.tmp"
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(temporary, out / REPORT_FILE)
    return ranked
