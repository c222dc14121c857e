"""``smoacs run``, ``deploy``, ``trigger`` and ``harvest``: the discovery pipeline as Prefect flows and deployments.

A run's configuration is validated and its models, data and store checked before any work
(``flows.preflight``), so a mistake costs seconds, not the optimization. Heavy imports wait inside the
commands: `smoacs --help` stays fast.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from smoacs_cli.common import BAD_INPUT, console, exit_on_bad_input, print_rates
from smoacs_cli.results import ResultsDirOption, StoreOption, open_store_or_exit

if TYPE_CHECKING:
    from flows.config import DiscoveryConfig


def run_discovery(config: DiscoveryConfig) -> dict:
    """Run the discovery flow in this process; returns the run summary."""
    from flows.discovery import discovery
    from flows.local_prefect import local_prefect

    with local_prefect():
        return discovery(config)


def print_summary(config: DiscoveryConfig, summary: dict) -> None:
    if "success_rate" not in summary:
        console.print(f"run {config.run_id}: stages {summary.get('stages')} completed")
        return
    print_rates(summary, f"run {config.run_id}: {summary['n_samples']} candidates -> {config.run_dir}")
    if "relaxed" in summary:
        console.print(
            f"success {summary['success_rate']:.3f} as the paper judges it (unrelaxed) -> "
            f"{summary['relaxed']['success_rate']:.3f} after ML relaxation; report: {config.run_dir / 'report'}"
        )


def run(
    config_file: Annotated[
        Path | None, typer.Argument(help="Discovery configuration (YAML); default: the shipped demo run.")
    ] = None,
    results_dir: Annotated[Path | None, typer.Option("--results-dir", help="Override results_dir.")] = None,
    store: Annotated[str | None, typer.Option("--store", help="Override store_url (SQLAlchemy URL).")] = None,
) -> None:
    """Run the discovery pipeline as a Prefect flow (ephemeral Prefect unless PREFECT_API_URL is set).

    Re-running the same configuration resumes it: finished tasks come from the cache.
    """
    from flows.preflight import check_ready, load_config
    from smoacs_core.store import StoreError

    with exit_on_bad_input(StoreError):
        config = check_ready(load_config(config_file, results_dir, store))
    try:
        summary = run_discovery(config)
    except Exception as error:  # the flow's own failure, already logged by Prefect with its traceback
        console.print(f"[bold red]run {config.run_id} failed:[/bold red] {error}")
        raise typer.Exit(1) from error
    print_summary(config, summary)


def deploy() -> None:
    """Register the deployments of deployments/prefect.yaml (nightly discovery, DFT harvest) on the Prefect server."""
    from flows.deploy import NoServerError
    from flows.deploy import deploy as register

    try:
        output = register()
    except (NoServerError, RuntimeError) as error:
        console.print(f"[bold red]error:[/bold red] {error}")
        raise typer.Exit(BAD_INPUT) from error
    typer.echo(output)


def trigger(
    name: Annotated[str, typer.Argument(help="Deployment, e.g. discovery/nightly-discovery.")] = (
        "discovery/nightly-discovery"
    ),
    config_file: Annotated[
        Path | None, typer.Option("--config", help="Discovery configuration (YAML) to run instead of the default.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Flow parameter as key=JSON value; repeatable.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the run to finish; exit 1 unless it completed.")] = False,
) -> None:
    """Start a run of a deployment on the Prefect server, from the command line (e.g. on an HPC login node)."""
    import json

    from flows.config import DiscoveryConfig
    from flows.deploy import NoServerError, flow_run_url
    from flows.deploy import trigger as start

    with exit_on_bad_input(NoServerError):
        parameters = {}
        if config_file is not None:
            parameters["config"] = DiscoveryConfig.from_yaml(config_file).model_dump(mode="json")
        for item in param or []:
            key, separator, value = item.partition("=")
            if not separator:
                raise ValueError(f"--param {item}: expected key=value")
            try:
                parameters[key] = json.loads(value)
            except json.JSONDecodeError:
                parameters[key] = value
        flow_run = start(name, parameters, wait)
    state = flow_run.state.name if flow_run.state else "Scheduled"
    typer.echo(f"flow run {flow_run.name} ({flow_run.id}): {state}")
    typer.echo(flow_run_url(flow_run))
    if wait and not (flow_run.state and flow_run.state.is_completed()):
        raise typer.Exit(1)


def harvest(
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run; default: every run.")] = None,
    store: StoreOption = None,
    results_dir: ResultsDirOption = Path("results"),
) -> None:
    """Collect finished DFT calculations now (what the scheduled dft-harvest deployment does every 15 min).

    Records energies and band gaps, places VASP energies on the hull and rewrites the runs' reports.
    """
    from smoacs_core.store import default_store_url

    open_store_or_exit(store, results_dir)  # fails here, clearly, if the store is missing or unreachable
    from flows.harvest import dft_harvest
    from flows.local_prefect import local_prefect
    from smoacs_core.steps.report import describe_statuses

    # the URL without password: flow parameters are visible in the Prefect UI; the password comes from the env
    with local_prefect():
        harvested = dft_harvest(store or default_store_url(results_dir), run_id)
    if not harvested:
        console.print("no open DFT calculations")
    for harvested_run, statuses in harvested.items():
        console.print(f"{harvested_run}: {describe_statuses(Counter(statuses.values()))}")
