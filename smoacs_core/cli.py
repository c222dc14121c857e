"""The ``smoacs`` command line: small subcommands that return exit codes (0 ok, 2 bad input)."""

from __future__ import annotations

import time
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from smoacs_core.cli_common import BAD_INPUT, console, exit_on_bad_input, options_from_file

from smoacs_core.data.cli import sample
from smoacs_core.hull.cli import hull

app = typer.Typer(help="SMOACS crystal discovery.", no_args_is_help=True, add_completion=False)



@app.callback()
def _commands() -> None:
    """SMOACS crystal discovery: optimize crystals through pretrained property models."""


class TemplateKind(str, Enum):
    perovskite = "perovskite"
    perovskite3x3x3 = "perovskite3x3x3"


class BandGapFidelity(str, Enum):
    pbe = "pbe"
    gllb_sc = "gllb-sc"
    hse = "hse"
    scan = "scan"


def _split(elements: str | None) -> list[str] | None:
    return [e.strip() for e in elements.split(",") if e.strip()] if elements else None


def _load_config(config_file: Path | None, mode: str, overrides: dict):
    from smoacs_core.config import OptimizationConfig

    if config_file is None:
        return OptimizationConfig.preset(mode, **overrides)
    return OptimizationConfig.model_validate({**options_from_file(config_file, "OptimizationConfig"), **overrides})


def _check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is available on this machine (use --device cpu)")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"--device {device}: expected 'cpu' or 'cuda'")


@app.command()
def optimize(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output directory (must not already hold results); default results/optimize-<time>."),
    ] = None,
    template: Annotated[
        TemplateKind | None, typer.Option("--template", help="Generate random perovskite templates.")
    ] = None,
    input_path: Annotated[
        Path | None, typer.Option("--input", help="Initial structures: a CIF/POSCAR/extxyz file or a directory.")
    ] = None,
    n: Annotated[
        int | None,
        typer.Option("--n", min=1, help="Number of templates (default 16), or of input structures to sample."),
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Optimization steps (default 200).")] = None,
    target_bandgap: Annotated[float, typer.Option("--target-bandgap", help="Target band gap (eV).")] = 1.5,
    margin: Annotated[float, typer.Option("--margin", min=0.0, help="Accepted band-gap margin (eV).")] = 0.2,
    formation_weight: Annotated[
        float, typer.Option("--lambda", min=0.0, help="Weight of the formation-energy loss.")
    ] = 1.0,
    fidelity: Annotated[
        BandGapFidelity, typer.Option("--bandgap-fidelity", help="Band-gap model fidelity.")
    ] = BandGapFidelity.pbe,
    include_elements: Annotated[
        str | None, typer.Option("--include-elements", help="Comma-separated elements allowed (default: all).")
    ] = None,
    exclude_elements: Annotated[
        str | None, typer.Option("--exclude-elements", help="Comma-separated elements never placed.")
    ] = None,
    reference: Annotated[
        Path | None, typer.Option("--reference", help="CSV (or directory of CSVs) of known formulas for novelty.")
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="YAML OptimizationConfig; target and mode flags are then ignored."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (templates, sampling, torch).")] = 0,
    device: Annotated[str, typer.Option("--device", help="'cpu' or 'cuda'.")] = "cpu",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace results already in --out.")] = False,
) -> None:
    """Optimize crystals toward a band gap with low formation energy (SMOACS) and write every result."""
    arguments = dict(locals())
    with exit_on_bad_input():
        _optimize(**arguments)


app.command("sample")(sample)
app.command("hull")(hull)


def _optimize(
    out, template, input_path, n, steps, target_bandgap, margin, formation_weight, fidelity, include_elements,
    exclude_elements, reference, config_file, seed, device, overwrite,
) -> None:
    import torch

    from smoacs_core.optimizer import build_vocabulary
    from smoacs_core.reference import known_formulas
    from smoacs_core.run import load_predictors, run_optimization
    from smoacs_core.run_output import check_output_dir, prepare_output_dir, write_results
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.structure_io import read_structures
    from smoacs_core.targets import PropertyTarget
    from smoacs_core.templates import perovskite_templates, structure_templates

    if template is not None and input_path is not None:
        raise ValueError("--template and --input exclude each other: generate templates or read structures")
    _check_device(device)
    mode = "free" if input_path is not None else (template or TemplateKind.perovskite).value
    overrides: dict = {"seed": seed, "device": device}
    if steps is not None:
        overrides["steps"] = steps
    if config_file is None:
        overrides["targets"] = [
            PropertyTarget.band_gap(target_bandgap, margin, predictor=f"megnet-bandgap-{fidelity.value}"),
            PropertyTarget.formation_energy(weight=formation_weight),
        ]
        overrides["include_elements"] = _split(include_elements)
        overrides["exclude_elements"] = _split(exclude_elements) or []
    config = _load_config(config_file, mode, overrides)
    known = known_formulas(reference) if reference is not None else None
    settings = SmoacsSettings()
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    out = out or settings.results_dir / time.strftime("optimize-%Y%m%d-%H%M%S")
    check_output_dir(out, overwrite)

    predictors = load_predictors(config, settings)
    rejected_inputs: list[tuple[str, str]] = []
    if input_path is not None:
        labelled = read_structures(input_path)
        if n is not None and n < len(labelled):
            chosen = np.random.default_rng(seed).choice(len(labelled), size=n, replace=False)
            labelled = [labelled[i] for i in sorted(chosen)]
        vocabulary = build_vocabulary(predictors, config)
        selection = structure_templates(
            [s for _, s in labelled], [label for label, _ in labelled], vocabulary, config.max_patterns
        )
        for label, reason in selection.rejected:
            console.print(f"[yellow]skipped[/yellow] {label}: {reason}")
        if not selection.templates:
            raise ValueError(f"{input_path}: none of the {len(labelled)} structures can be optimized (see above)")
        templates = selection.templates
        rejected_inputs = selection.rejected
    else:
        templates = perovskite_templates(
            n or 16, config.supercell_repeat, config.constraints.length_range, seed=seed
        )

    out = prepare_output_dir(out, overwrite)
    with Progress(
        TextColumn("[bold]SMOACS"), BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console,
    ) as progress:
        task = progress.add_task("", total=config.steps)

        def on_step(record) -> None:
            met = " ".join(f"{k}={v:.2f}" for k, v in record.soft_success.items())
            progress.update(task, advance=1, description=f"loss={record.loss:.3f} {met}")

        outcome = run_optimization(
            templates, config, predictors, known, str(reference) if reference else None, on_step=on_step
        )
    outcome.summary["rejected_inputs"] = [{"label": label, "reason": reason} for label, reason in rejected_inputs]
    write_results(out, outcome.result, outcome.table, outcome.summary)
    print_rates(outcome.summary, f"{outcome.summary['n_samples']} candidates -> {out}")


class Potential(str, Enum):
    m3gnet = "m3gnet"
    chgnet = "chgnet"


@app.command()
def prerelax(
    optimized: Annotated[Path, typer.Argument(help="Output directory of `smoacs optimize`.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output directory; default OPTIMIZED/prerelaxed.")] = None,
    potential: Annotated[Potential, typer.Option("--potential", help="ML potential.")] = Potential.m3gnet,
    fmax: Annotated[float, typer.Option("--fmax", min=0.0, help="Force criterion (eV/A).")] = 0.1,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Optimizer step limit.")] = 300,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace results already in --out.")] = False,
) -> None:
    """Relax optimized candidates with an ML potential and judge them again (what survives relaxation)."""
    import json

    import pandas as pd
    from pymatgen.core import Structure

    from smoacs_core.config import OptimizationConfig
    from smoacs_core.relax.potentials import ase_calculator
    from smoacs_core.relax.relax import RelaxConfig, relax_structures
    from smoacs_core.relax.survival import evaluate_relaxed, survival_summary
    from smoacs_core.run import load_predictors
    from smoacs_core.run_output import check_output_dir
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.templates import candidate_templates

    out = out or optimized / "prerelaxed"
    with exit_on_bad_input():
        if not (optimized / "summary.json").is_file() or not (optimized / "candidates.csv").is_file():
            raise FileNotFoundError(f"{optimized}: not a `smoacs optimize` output (summary.json, candidates.csv)")
        check_output_dir(out, overwrite)
        config = OptimizationConfig.model_validate(json.loads((optimized / "summary.json").read_text())["config"])
        ids = list(pd.read_csv(optimized / "candidates.csv")["id"])
        structures = [Structure.from_file(optimized / "structures" / f"{i}.cif") for i in ids]
        relax = RelaxConfig(potential=potential.value, fmax=fmax, max_steps=max_steps)
        settings = SmoacsSettings()
        predictors = load_predictors(config, settings)
        calculator = ase_calculator(relax.potential, settings)
    templates = candidate_templates(structures, ids, config.supercell_repeat if config.is_perovskite else None)
    with Progress(TextColumn("[bold]relax"), BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("", total=len(structures))
        results = relax_structures(structures, ids, calculator, relax, on_done=lambda _: progress.advance(task))
    table = evaluate_relaxed(structures, results, templates, predictors, config)
    (out / "structures").mkdir(parents=True, exist_ok=True)
    for result in results:
        if result.structure is not None:
            result.structure.to(filename=str(out / "structures" / f"{result.label}.cif"))
    table["id"] = ids
    table.to_csv(out / "prerelaxed.csv", index=False)
    summary = {**survival_summary(table), "relax": relax.model_dump(), "optimized": str(optimized)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    Console().print(
        f"success {summary['success_rate_unrelaxed']:.3f} unrelaxed (paper's metric) -> "
        f"{summary['success_rate_relaxed']:.3f} after relaxation; {summary['relax_status']} -> {out}"
    )


@app.command()
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
    from flows.cli import check_ready, load_config, print_summary, run_discovery
    from smoacs_core.store import StoreError

    with exit_on_bad_input(StoreError):
        config = load_config(config_file, results_dir, store)
        check_ready(config)
    try:
        summary = run_discovery(config)
    except Exception as error:  # the flow's own failure, already logged by Prefect with its traceback
        console.print(f"[bold red]run {config.run_id} failed:[/bold red] {error}")
        raise typer.Exit(1) from error
    print_summary(config, summary)


@app.command()
def deploy() -> None:
    """Register the deployments of deployments/prefect.yaml (nightly discovery, DFT harvest) on the Prefect server."""
    from flows.deploy import NoServerError, deploy as register

    try:
        output = register()
    except (NoServerError, RuntimeError) as error:
        console.print(f"[bold red]error:[/bold red] {error}")
        raise typer.Exit(BAD_INPUT) from error
    typer.echo(output)


@app.command()
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
    from flows.deploy import NoServerError, flow_run_url, trigger as start

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


results_app = typer.Typer(help="Query the results store.", no_args_is_help=True)
app.add_typer(results_app, name="results")

StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL; default: SQLite in --results-dir.")
]
ResultsDirOption = Annotated[Path, typer.Option("--results-dir", help="Results directory.")]


def _open_store(store: str | None, results_dir: Path):
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
    runs = _open_store(store, results_dir).runs()
    typer.echo(runs.to_string(index=False) if not runs.empty else "no runs")


@results_app.command("show")
def results_show(
    run_id: Annotated[str, typer.Argument(help="Run id (see `smoacs results list`).")],
    store: StoreOption = None,
    results_dir: ResultsDirOption = Path("results"),
) -> None:
    """Show a run's stages, summary and best candidates."""
    opened = _open_store(store, results_dir)
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


@app.command()
def harvest(
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run; default: every run.")] = None,
    store: StoreOption = None,
    results_dir: ResultsDirOption = Path("results"),
) -> None:
    """Collect finished DFT calculations now (what the scheduled dft-harvest deployment does every 15 min).

    Records energies and band gaps, places VASP energies on the hull and rewrites the runs' reports.
    """
    from smoacs_core.store import default_store_url

    _open_store(store, results_dir)  # fails here, clearly, if the store is missing or unreachable
    from flows.harvest import dft_harvest
    from flows.local_prefect import local_prefect
    from vasp_inputs.results import describe_statuses

    # the URL without password: flow parameters are visible in the Prefect UI; the password comes from the env
    with local_prefect():
        harvested = dft_harvest(store or default_store_url(results_dir), run_id)
    if not harvested:
        console.print("no open DFT calculations")
    for harvested_run, statuses in harvested.items():
        console.print(f"{harvested_run}: {describe_statuses(Counter(statuses.values()))}")


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
    candidates = _open_store(store, results_dir).candidates(run_id)
    text = candidates.to_csv(index=False) if export_format == "csv" else candidates.to_json(orient="records", indent=1)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"{len(candidates)} candidates -> {output}")


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


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
