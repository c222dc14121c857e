"""``smoacs sample``: choose initial structures from a data source and write them with a manifest.

Registered on the ``smoacs`` app in ``smoacs_cli/app.py``; this module imports nothing heavy at import time.
"""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from smoacs_cli.common import console, exit_on_bad_input, options_from_file

_SHOWN_SKIPS = 5


class SourceKind(str, Enum):
    megnet = "megnet"
    mp20 = "mp20"
    perov5 = "perov5"
    directory = "directory"
    perovskite = "perovskite"


def sample(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output directory (must not already hold a sample); default results/sample-<time>."
        ),
    ] = None,
    source: Annotated[
        SourceKind | None,
        typer.Option("--source", help="Where structures come from (default megnet, as the paper)."),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option(
            "--path", help="Data file or directory (default: SMOACS_DATA_DIR, or download for megnet)."
        ),
    ] = None,
    repeat: Annotated[
        int | None, typer.Option("--repeat", min=1, max=3, help="Perovskite templates: n x n x n supercells.")
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", min=1, help="Structures to draw at random (default: all).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the random draw (default 0).")] = None,
    max_sites: Annotated[
        int | None, typer.Option("--max-sites", min=1, help="Most sites per cell (default 10, as the paper).")
    ] = None,
    include_elements: Annotated[
        str | None, typer.Option("--include-elements", help="Comma-separated: structures made only of these.")
    ] = None,
    exclude_elements: Annotated[
        str | None,
        typer.Option("--exclude-elements", help="Comma-separated: structures holding none of these."),
    ] = None,
    min_band_gap: Annotated[float | None, typer.Option("--min-band-gap", help="eV.")] = None,
    max_band_gap: Annotated[float | None, typer.Option("--max-band-gap", help="eV.")] = None,
    min_formation_energy: Annotated[
        float | None, typer.Option("--min-formation-energy", help="eV/atom.")
    ] = None,
    max_formation_energy: Annotated[
        float | None, typer.Option("--max-formation-energy", help="eV/atom.")
    ] = None,
    require_neutral: Annotated[
        bool | None,
        typer.Option(
            "--require-neutral/--no-require-neutral",
            help="Keep only charge-neutral compositions (default on).",
        ),
    ] = None,
    require_pattern: Annotated[
        bool | None,
        typer.Option(
            "--require-pattern/--no-require-pattern",
            help="Keep only compositions with an oxidation pattern (default on).",
        ),
    ] = None,
    deduplicate: Annotated[
        bool | None,
        typer.Option(
            "--deduplicate/--no-deduplicate", help="Drop matching structures (default on, off for templates)."
        ),
    ] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="YAML SamplingConfig; options given here override it.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a sample already in --out.")
    ] = False,
) -> None:
    """Sample initial structures (MEGNet, MP-20, Perov-5, your files, templates) with the paper's filters."""
    from smoacs_core.data.output import check_output_dir, write_sample
    from smoacs_core.data.sampling import SamplingConfig, sample_structures
    from smoacs_core.settings import SmoacsSettings

    with exit_on_bad_input():
        data = options_from_file(config_file, "SamplingConfig")
        data["source"] = _source_data(source, path, repeat, n, seed, data)
        options = {
            "n": n,
            "seed": seed,
            "max_sites": max_sites,
            "require_neutral": require_neutral,
            "require_pattern": require_pattern,
            "deduplicate": deduplicate,
            "include_elements": _split(include_elements),
            "exclude_elements": _split(exclude_elements),
        }
        data.update({key: value for key, value in options.items() if value is not None})
        windows = dict(data.get("property_windows") or {})
        for name, low, high in (
            ("band_gap", min_band_gap, max_band_gap),
            ("formation_energy_per_atom", min_formation_energy, max_formation_energy),
        ):
            if low is not None or high is not None:
                windows[name] = {"min": low, "max": high}
        data["property_windows"] = windows
        config = SamplingConfig.model_validate(data)
        settings = SmoacsSettings()
        out = check_output_dir(out or settings.results_dir / time.strftime("sample-%Y%m%d-%H%M%S"), overwrite)

        with Progress(
            SpinnerColumn(),
            TextColumn(f"[bold]sampling {config.source.kind}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("", total=None)

            def on_progress(read: int) -> None:
                if read % 100 == 0:
                    progress.update(task, description=f"{read} entries read")

            result = sample_structures(config, settings, on_progress=on_progress)
            progress.update(task, description=f"{result.report.read} entries read")
        for skipped in result.report.skipped_entries[:_SHOWN_SKIPS]:
            console.print(f"[yellow]skipped[/yellow] {skipped.id}: {skipped.reason}")
        if len(result.report.skipped_entries) > _SHOWN_SKIPS:
            console.print(
                f"[yellow]... and {len(result.report.skipped_entries) - _SHOWN_SKIPS} more skipped "
                "(see manifest.json)"
            )
        _print_counts(result.report, out)
        if not result.entries:
            raise ValueError(
                f"no structure of {config.source.kind} passed the filters (counts above); nothing written"
            )
        write_sample(result, out, overwrite)
        console.print(f"optimize them with: smoacs optimize --input {out}")


def _source_data(
    source: SourceKind | None,
    path: Path | None,
    repeat: int | None,
    n: int | None,
    seed: int | None,
    data: dict,
) -> dict:
    """The configuration's source: from --source (default megnet) unless the config file names one."""
    if source is None and "source" in data:
        if path is not None or repeat is not None:
            raise ValueError("--path and --repeat apply to --source: give --source as well")
        return data["source"]
    kind = source or SourceKind.megnet
    if kind is SourceKind.directory and path is None:
        raise ValueError("--source directory needs --path (a structure file or a directory of them)")
    if kind is SourceKind.perovskite:
        if path is not None:
            raise ValueError("--source perovskite generates templates and reads no --path")
        return {"kind": kind.value, "repeat": repeat or 1, "count": n or 16, "seed": seed or 0}
    if repeat is not None:
        raise ValueError("--repeat applies to --source perovskite only")
    return {"kind": kind.value, **({"path": path} if path is not None else {})}


def _split(elements: str | None) -> list[str] | None:
    return [e.strip() for e in elements.split(",") if e.strip()] if elements else None


def _print_counts(report, out: Path) -> None:
    table = Table(title=f"{report.chosen} of {report.read} entries -> {out}")
    table.add_column("step")
    table.add_column("entries", justify="right")
    table.add_row("read", str(report.read))
    for category, count in report.skipped.items():
        if count:
            table.add_row(f"skipped: {category}", str(count))
    for name, count in report.removed.items():
        if count:
            table.add_row(f"removed: {name}", str(count))
    table.add_row("eligible", str(report.eligible))
    table.add_row("[bold]chosen", f"[bold]{report.chosen}")
    Console().print(table)
