"""What every `smoacs` subcommand shares: the error console, exit code 2 on bad input, YAML option files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
import yaml
from rich.console import Console

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
