"""``smoacs loop``: the closed loop (optimize through the DFT correction, DFT picks by acquisition, learn) as a
Prefect flow; re-running the same configuration resumes it at the round and stage it stopped in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from smoacs_cli.common import console, exit_on_bad_input


def loop(config_file: Annotated[Path, typer.Argument(help="Closed-loop configuration (YAML).")]) -> None:
    """Run rounds of optimize -> DFT -> learn; prints each round's confirmed picks and prospective error."""
    from flows.closed_loop import ClosedLoopConfig, closed_loop
    from flows.local_prefect import local_prefect
    from flows.preflight import check_ready
    from smoacs_core.store import StoreError

    with exit_on_bad_input(StoreError):
        config = ClosedLoopConfig.from_yaml(config_file)
        check_ready(config.discovery)
    try:
        with local_prefect():
            rounds = closed_loop(config)
    except Exception as error:  # the flow's own failure, already logged by Prefect with its traceback
        console.print(f"[bold red]loop {config.loop_id} failed:[/bold red] {error}")
        raise typer.Exit(1) from error
    table = Table(title=f"closed loop {config.loop_id}")
    for column in ("round", "correction", "trained on", "DFT picks", "confirmed", "metals", "prospective MAE (eV)"):
        table.add_column(column)
    for record in rounds:
        outcome = record.outcome
        mae = "n/a" if outcome.prospective_mae is None else f"{outcome.prospective_mae:.3f}"
        table.add_row(str(record.round), record.predictor, str(record.trained_on), str(outcome.picks),
                      str(outcome.confirmed), str(outcome.metals), mae)
    Console().print(table)
    console.print(f"report: {config.discovery.results_dir / config.loop_id / 'report' / 'loop_report.md'}")
