"""What every `smoacs` subcommand shares: the error console, exit code 2 on bad input, YAML option files, the rates table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table

from smoacs_core.yaml_files import read_yaml_mapping

BAD_INPUT = 2
console = Console(stderr=True, soft_wrap=True)

INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # includes pydantic's ValidationError and our StructureInputError
    KeyError,
    FileNotFoundError,
    FileExistsError,  # includes OutputExistsError
    ConnectionError,
    yaml.YAMLError,
)


@contextmanager
def exit_on_bad_input(*extra: type[BaseException]) -> Iterator[None]:
    """Turn an input error into its message on stderr and exit code 2 (anything else is a bug and propagates)."""
    try:
        yield
    except (*INPUT_ERRORS, *extra) as error:
        console.print(f"[bold red]error:[/bold red] {error}")
        raise typer.Exit(BAD_INPUT) from error


def options_from_file(path: Path | None, what: str) -> dict:
    """The fields of a ``--config`` YAML file, or none without one."""
    return {} if path is None else read_yaml_mapping(path, what)


def print_rates(summary: dict, title: str) -> None:
    """The success rate, every criterion's rate and the diversity rates of a run summary, as a table."""
    table = Table(title=title)
    table.add_column("criterion")
    table.add_column("rate", justify="right")
    table.add_row("[bold]success", f"[bold]{summary['success_rate']:.3f}")
    for name, rate in summary["rates"].items():
        table.add_row(name, f"{rate:.3f}")
    for name in ("unique_rate", "unique_rate_in_success", "unique_novel_rate_in_success"):
        value = summary.get(name)
        table.add_row(name, "n/a" if value is None else f"{value:.3f}")
    Console().print(table)
