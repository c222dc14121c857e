"""``smoacs correction``: train the DFT correction on the store's labels, and list the trained versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from smoacs_cli.common import exit_on_bad_input, options_from_file
from smoacs_cli.labels import open_labels_store
from smoacs_cli.results import ResultsDirOption, StoreOption

correction_app = typer.Typer(help="DFT corrections: band-gap models that learn from DFT labels.",
                             no_args_is_help=True)


def _mae(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@correction_app.command("train")
def correction_train(
    config: Annotated[Path | None, typer.Option("--config", help="YAML of the correction's settings (members, "
                                                                 "functional, codes, ensemble_size, ...).")] = None,
    validate: Annotated[bool, typer.Option(help="Also measure leave-one-group-out errors.")] = True,
    store: StoreOption = None,
    results_dir: ResultsDirOption = Path("results"),
) -> None:
    """Train a correction on every stored label of the configured functional (or reuse the identical version)."""
    from smoacs_core.correction.training import CorrectionConfig
    from smoacs_core.predictors.registry import load_predictor
    from smoacs_core.steps.learn import LearnInput, learn

    with exit_on_bad_input():
        settings = CorrectionConfig.model_validate(options_from_file(config, "correction settings"))
        labels = open_labels_store(store, results_dir).labels()
        trained = learn(LearnInput(labels=labels, config=settings, validate_groups=validate), load_predictor)
    record = trained.record
    metrics = record.metrics
    typer.echo(f"{'reused' if trained.reused else 'trained'} {trained.predictor_name}: {metrics.labels} labels "
               f"({', '.join(f'{n} {k}' for k, n in record.label_kinds.items())}) in {metrics.groups} groups")
    typer.echo(f"  leave-one-group-out MAE {_mae(metrics.cv_mae)} eV (committee mean without learning "
               f"{_mae(metrics.cv_committee_mae)} eV); out of bag {metrics.out_of_bag_mae:.3f} eV; "
               f"noise {metrics.noise:.3f} eV")
    typer.echo(f"  use it as a target's predictor: '{trained.predictor_name}'")


@correction_app.command("list")
def correction_list() -> None:
    """Every trained version with what it learned from and its errors."""
    from smoacs_core.correction.versions import stored_corrections, trained_model_dir

    records = stored_corrections()
    if not records:
        typer.echo(f"no trained corrections in {trained_model_dir()}")
        return
    table = Table(title=f"DFT corrections in {trained_model_dir()}")
    for column in ("predictor", "created", "labels", "members", "CV MAE (eV)", "committee CV MAE (eV)"):
        table.add_column(column)
    for record in records:
        table.add_row(record.predictor_name, record.created_at,
                      ", ".join(f"{n} {k}" for k, n in record.label_kinds.items()), ", ".join(record.config.members),
                      _mae(record.metrics.cv_mae), _mae(record.metrics.cv_committee_mae))
    Console().print(table)
