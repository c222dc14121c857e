"""``smoacs hull``: place candidates against the convex hull and write the ranked table, plots and report.

Registered on the ``smoacs`` app in ``smoacs_cli/app.py``; this module imports nothing heavy at import time.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated, NamedTuple

import typer
from rich.console import Console
from rich.table import Table

from smoacs_cli.common import console, exit_on_bad_input, options_from_file

_SHOWN = 10
PRERELAX_TABLE = "prerelaxed.csv"
TABLE_FILES = ("candidates.csv", PRERELAX_TABLE)
"""The per-candidate tables of `smoacs optimize` and `smoacs prerelax` outputs."""
DEFAULT_ENERGY_COLUMNS = {
    ("directory", "formation_energy"): "formation_energy",
    ("csv", "formation_energy"): "formation_energy_per_atom",
    ("directory", "total_energy"): "energy_per_atom",
    ("csv", "total_energy"): "energy_per_atom",
}
"""Which column holds the candidates' energies, by input kind and footing: `smoacs optimize` and `smoacs
prerelax` write MEGNet's predicted E_f as ``formation_energy``, `smoacs prerelax` the potential's total
energy as ``energy_per_atom``."""


def hull(
    input_path: Annotated[
        Path,
        typer.Argument(
            help="A `smoacs optimize` or `smoacs prerelax` output directory (candidates.csv or "
            "prerelaxed.csv, structures/), or a CSV with a formula column and energies per atom "
            "(formation_energy_per_atom; energy_per_atom for --footing total_energy)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output directory (must not already hold hull results); default results/hull-<time>.",
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="local (default), mp_api (MP_API_KEY, internet) or entries_file."),
    ] = None,
    entries: Annotated[
        Path | None,
        typer.Option(
            "--entries", help="Entries file for --reference entries_file: JSON/JSON.gz of entries, or CSV."
        ),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Local reference data set: matbench_mp_e_form (default), mp20 or megnet.")
    ] = None,
    dataset_path: Annotated[
        Path | None,
        typer.Option("--dataset-path", help="Local data set file/directory (default: in SMOACS_DATA_DIR)."),
    ] = None,
    task_documents: Annotated[
        bool | None,
        typer.Option(
            "--task-documents/--no-task-documents", help="Local reference: add the shipped task documents."
        ),
    ] = None,
    footing: Annotated[
        str | None,
        typer.Option(
            "--footing", help="formation_energy (default: energies are E_f per atom) or total_energy."
        ),
    ] = None,
    corrections: Annotated[
        str | None,
        typer.Option("--corrections", help="MP2020 (default) or none (entries files of one footing)."),
    ] = None,
    on_hull_tolerance: Annotated[
        float | None,
        typer.Option("--on-hull-tolerance", help="eV/atom above the hull still counted as on it."),
    ] = None,
    energy_column: Annotated[
        str | None,
        typer.Option(
            "--energy-column", help="Column of the candidates' energies (default: see the input's help)."
        ),
    ] = None,
    target_error_column: Annotated[
        str | None,
        typer.Option(
            "--target-error-column",
            help="Column of signed target errors for ranking; default for an optimize directory: the first "
            "range "
            "target minus its centre (e.g. band_gap - 1.5).",
        ),
    ] = None,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Plot binary and ternary systems.")
    ] = True,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="YAML HullConfig; options given here override it.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace hull results already in --out.")
    ] = False,
) -> None:
    """Energy above hull and decomposition of candidates against local data, Materials Project or a file."""
    from smoacs_core.hull.config import HullConfig
    from smoacs_core.hull.report import check_output_dir
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.steps.hull import HullInput
    from smoacs_core.steps.hull import hull as hull_step

    with exit_on_bad_input(ImportError):  # ImportError: mp-api is an optional extra
        data = options_from_file(config_file, "HullConfig")
        options = {
            "reference": reference,
            "entries_file": entries,
            "dataset": dataset,
            "dataset_path": dataset_path,
            "task_documents": task_documents,
            "footing": footing,
            "corrections": corrections,
            "on_hull_tolerance": on_hull_tolerance,
        }
        data.update({key: value for key, value in options.items() if value is not None})
        config = HullConfig.model_validate(data)
        settings = SmoacsSettings()
        out = out or settings.results_dir / time.strftime("hull-%Y%m%d-%H%M%S")
        check_output_dir(out, overwrite)
        given = read_candidates(input_path, config.footing, energy_column, target_error_column)
        if given.left_out:
            console.print(
                f"[yellow]left out[/yellow] {len(given.left_out)} candidates without a relaxed structure: "
                f"{', '.join(given.left_out[:_SHOWN])}"
            )
        request = HullInput(candidates=given.candidates, config=config, out=out, target_errors=given.target_errors,
                            target_description=given.target_description, plots=plots, overwrite=overwrite)
        with console.status(f"loading reference '{config.reference}'"):
            placed = hull_step(request, settings)
        _print(placed.ranked, placed.reference, config, out)


class CandidateInput(NamedTuple):
    """What ``smoacs hull`` read: candidates, their target errors (and what these measure), left-out ids."""

    candidates: list
    """(id, structure or composition, energy per atom)"""
    target_errors: dict[str, float] | None
    target_description: str | None
    left_out: list[str]
    """candidates of a `smoacs prerelax` output without a relaxed structure (a failed relaxation)"""


def read_candidates(
    path: Path, footing: str, energy_column: str | None, target_error_column: str | None
) -> CandidateInput:
    """Candidates of a `smoacs optimize` or `smoacs prerelax` output directory, or of a CSV of formulas.

    Raises:
        FileNotFoundError / ValueError: naming the file, the column or the row that is missing or wrong.
    """
    import pandas as pd

    from smoacs_core.hull.entries import FORMULA_COLUMNS, parse_composition
    from smoacs_core.structure_io import read_structures

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    kind = "directory" if path.is_dir() else "csv"
    table_file = (
        next((path / n for n in TABLE_FILES if (path / n).is_file()), None) if kind == "directory" else path
    )
    if table_file is None:
        raise FileNotFoundError(
            f"{path}: not a `smoacs optimize` or `smoacs prerelax` output directory "
            f"(no {' or '.join(TABLE_FILES)})"
        )
    try:
        table = pd.read_csv(table_file)
    except (ValueError, pd.errors.ParserError) as error:
        raise ValueError(f"{table_file}: not a readable CSV file ({error})") from error
    column = energy_column or DEFAULT_ENERGY_COLUMNS[(kind, footing)]
    needed = [column] + ([target_error_column] if target_error_column else [])
    if kind == "directory":
        needed.append("id")
    formula_column = next((c for c in FORMULA_COLUMNS if c in table.columns), None)
    if kind == "csv" and formula_column is None:
        needed.append("formula")
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(
            f"{table_file}: no column {', '.join(repr(c) for c in missing)} "
            f"(columns: {', '.join(table.columns)})"
            + ("; total energies come from pre-relaxation or DFT" if column == "energy_per_atom" else "")
        )
    if table.empty:
        raise ValueError(f"{table_file}: no candidates")
    ids = (
        [str(i) for i in table["id"]]
        if "id" in table.columns
        else [f"row-{n}" for n in range(1, len(table) + 1)]
    )
    candidates, left_out = [], []
    for number, (candidate_id, row) in enumerate(zip(ids, table.to_dict("records"), strict=True), start=1):
        if kind == "directory":
            cif = path / "structures" / f"{candidate_id}.cif"
            if not cif.is_file() and table_file.name == PRERELAX_TABLE:
                left_out.append(candidate_id)
                continue
            if not cif.is_file():
                raise FileNotFoundError(f"{cif}: structure of candidate {candidate_id} not found")
            crystal = read_structures(cif)[0][1]
        else:
            crystal = parse_composition(row[formula_column], f"{table_file}: row {number} ({candidate_id})")
        try:
            energy = float(row[column])
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{table_file}: row {number} ({candidate_id}): {column} {row[column]!r} is not a number"
            ) from error
        candidates.append((candidate_id, crystal, energy))
    if not candidates:
        raise ValueError(f"{table_file}: no candidate has a structure in {path / 'structures'}")
    if target_error_column:
        errors = dict(zip(ids, table[target_error_column].astype(float), strict=True))
        return CandidateInput(candidates, errors, f"column {target_error_column}", left_out)
    targets = _run_targets(path) if kind == "directory" else []
    from smoacs_core.targets import range_target_errors

    return CandidateInput(candidates, *range_target_errors(targets, table.assign(id=ids)), left_out)


def _run_targets(path: Path) -> list:
    """The property targets of the optimization behind an output directory (a prerelax summary names it)."""
    from smoacs_core.config import OptimizationConfig

    summary_file = path / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    if "config" not in summary and summary.get("optimized"):
        return _run_targets(Path(summary["optimized"]))
    return OptimizationConfig.model_validate(summary["config"]).targets if "config" in summary else []


def _print(ranked, reference, config, out: Path) -> None:
    info = reference.info()
    table = Table(title=f"{len(ranked)} candidates -> {out}  (reference '{info.name}', {config.footing})")
    for name in ("rank", "id", "formula", "E_hull (meV/atom)", "decomposition"):
        table.add_column(name, justify="right" if name in ("rank", "E_hull (meV/atom)") else "left")
    if "target_error" in ranked.columns:
        table.add_column("target error", justify="right")
    for row in ranked.head(_SHOWN).to_dict("records"):
        energy = "n/a" if math.isnan(row["e_above_hull"]) else f"{1000 * row['e_above_hull']:.0f}"
        cells = [str(row["rank"]), row["id"], row["formula"], energy, row["decomposition"]]
        if "target_error" in ranked.columns:
            cells.append(f"{row['target_error']:.3f}")
        table.add_row(*cells)
    Console().print(table)
    incomplete = int((~ranked["reference_complete"].astype(bool)).sum())
    if incomplete:
        console.print(
            f"[yellow]{incomplete} of {len(ranked)} candidates have an incomplete reference[/yellow] "
            f"(missing sub-systems in hull.csv and hull.json)"
        )
    console.print(f"reference: {info.description}; corrections {info.corrections}")
