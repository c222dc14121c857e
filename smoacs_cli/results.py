"""``smoacs results``: list, show and export what the results store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from smoacs_cli.common import BAD_INPUT, console

results_app = typer.Typer(help="Query the results store.", no_args_is_help=True)

StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL; default: SQLite in --results-dir.")
]
ResultsDirOption = Annotated[Path, typer.Option("--results-dir", help="Results directory.")]


def open_store_or_exit(store: str | None, results_dir: Path):
    from smoacs_core.store import ResultsStore, StoreError, default_store_url
    from smoacs_core.store.store import SQLITE_FILE

    if store is None and not (results_dir / SQLITE_FILE).exists():
        console.print(f"[bold red]error:[/bold red] no results store in {results_dir} (run `smoacs run` first)")
        raise typer.Exit(BAD_INPUT)
    try:
        return ResultsStore(store or default_store_url(results_dir))
    except StoreError as error:
        console.print(f"[bold red]error:[/bold red] {error}")
        raise typer.Exit(BAD_INPUT) from error


@results_app.command("list")
def results_list(store: StoreOption = None, results_dir: ResultsDirOption = Path("results")) -> None:
    """List runs with their status and candidate counts."""
    runs = open_store_or_exit(store, results_dir).runs()
    typer.echo(runs.to_string(index=False) if not runs.empty else "no runs")


@results_app.command("show")
def results_show(
    run_id: Annotated[str, typer.Argument(help="Run id (see `smoacs results list`).")],
    store: StoreOption = None,
    results_dir: ResultsDirOption = Path("results"),
) -> None:
    """Show a run's stages, summary and best candidates."""
    opened = open_store_or_exit(store, results_dir)
    try:
        run_record = opened.run(run_id)
    except KeyError as error:
        console.print(f"[bold red]error:[/bold red] {error.args[0]}")
        raise typer.Exit(BAD_INPUT) from error
    out = Console()
    out.print(f"[bold]{run_record.id}[/bold] ({run_record.name}): {run_record.status}")
    for stage, (status, message) in opened.stage_statuses(run_id).items():
        out.print(f"  {stage}: {status} {message}")
    if run_record.summary:
        out.print(f"  success rate {run_record.summary.get('success_rate', float('nan')):.3f}")
    candidates = opened.candidates(run_id)
    out.print(candidates.sort_values("success", ascending=False).head(10).to_string(index=False))
    calculations = opened.dft_calculations(run_id)
    if not calculations.empty:
        out.print("DFT calculations:")
        columns = ["candidate_id", "code", "functional", "backend", "status", "directory", "message"]
        out.print(calculations[columns].to_string(index=False))


@results_app.command("export")
def results_export(
    output: Annotated[Path, typer.Option("--out", help="File to write; default: standard output.")] = None,
    export_format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run.")] = None,
    store: StoreOption = None,
    results_dir: ResultsDirOption = Path("results"),
) -> None:
    """Export candidates (every property and criterion at every stage) as CSV or JSON."""
    if export_format not in ("csv", "json"):
        console.print(f"[bold red]error:[/bold red] --format {export_format}: choose csv or json")
        raise typer.Exit(BAD_INPUT)
    candidates = open_store_or_exit(store, results_dir).candidates(run_id)
    text = candidates.to_csv(index=False) if export_format == "csv" else candidates.to_json(orient="records", indent=1)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"{len(candidates)} candidates -> {output}")
