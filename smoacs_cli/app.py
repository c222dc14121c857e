"""The ``smoacs`` command line: small subcommands that return exit codes (0 ok, 2 bad input).

Each command parses its arguments, calls the stage's step (or the flow) and prints; nothing imports this package.
"""

from __future__ import annotations

import typer

from smoacs_cli.correction import correction_app
from smoacs_cli.hull import hull
from smoacs_cli.labels import labels_app
from smoacs_cli.loop import loop
from smoacs_cli.optimize import optimize, prerelax
from smoacs_cli.pipeline import deploy, harvest, run, trigger
from smoacs_cli.results import results_app
from smoacs_cli.sample import sample

app = typer.Typer(help="SMOACS crystal discovery.", no_args_is_help=True, add_completion=False)
for command in (optimize, sample, hull, prerelax, run, loop, deploy, trigger, harvest):
    app.command()(command)
app.add_typer(results_app, name="results")
app.add_typer(labels_app, name="labels")
app.add_typer(correction_app, name="correction")


@app.callback()
def _commands() -> None:
    """SMOACS crystal discovery: optimize crystals through pretrained property models."""


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
