"""``smoacs labels``: import DFT band gaps computed elsewhere, and see what the correction models can learn from."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from smoacs_cli.common import exit_on_bad_input
from smoacs_cli.results import ResultsDirOption, StoreOption

labels_app = typer.Typer(help="DFT labels the correction models learn from.", no_args_is_help=True)


def open_labels_store(store: str | None, results_dir: Path):
    """The store labels go to and come from (created when new: labels can come before any run)."""
    from smoacs_core.store import ResultsStore, StoreError, default_store_url

    with exit_on_bad_input(StoreError):
        return ResultsStore(store or default_store_url(results_dir))


@labels_app.command("import")
def labels_import(
    file: Annotated[Path, typer.Argument(help="JSON or CSV of structures and DFT gaps, or atomate2/emmet task "
                                               "documents (.json, .json.gz).")],
    code: Annotated[str | None, typer.Option(help="DFT code of rows that do not say (e.g. GPAW, VASP).")] = None,
    functional: Annotated[str | None, typer.Option(help="Functional of rows that do not say (e.g. PBE).")] = None,
    group: Annotated[str | None, typer.Option(help="Group of rows that do not say (default: the file's name); "
                                                    "cross-validation leaves whole groups out.")] = None,
    store: StoreOption = None,
    results_dir: ResultsDirOption = Path("results"),
) -> None:
    """Add the labels of FILE to the results store (importing the same file again changes nothing)."""
    from smoacs_core.labels.importing import LabelImportError, read_labels

    defaults = {key: value for key, value in (("code", code), ("functional", functional), ("group", group))
                if value is not None}
    with exit_on_bad_input(LabelImportError):
        labels = read_labels(file, defaults)
    opened = open_labels_store(store, results_dir)
    new = opened.save_labels(labels)
    kinds = Counter(label.label for label in labels)
    typer.echo(f"{len(labels)} labels read from {file} ({', '.join(f'{n} {k}' for k, n in kinds.items())}); "
               f"{new} new in {opened.display_url}")


@labels_app.command("list")
def labels_list(store: StoreOption = None, results_dir: ResultsDirOption = Path("results")) -> None:
    """Count the stored labels by code, functional and source."""
    labels = open_labels_store(store, results_dir).labels()
    if not labels:
        typer.echo("no DFT labels (import some with `smoacs labels import`, or run DFT)")
        return
    table = Table(title=f"{len(labels)} DFT labels")
    for column in ("label", "source", "labels", "groups", "metals (gap 0)", "median gap (eV)"):
        table.add_column(column)
    keys = sorted({(label.label, label.source) for label in labels})
    for kind, source in keys:
        chosen = [label for label in labels if (label.label, label.source) == (kind, source)]
        gaps = sorted(label.band_gap for label in chosen)
        table.add_row(kind, source, str(len(chosen)), str(len({label.group for label in chosen})),
                      str(sum(gap <= 0 for gap in gaps)), f"{gaps[len(gaps) // 2]:.2f}")
    Console().print(table)
