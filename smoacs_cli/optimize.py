"""``smoacs optimize`` and ``smoacs prerelax``: SMOACS on templates or structure files, and what survives ML relaxation."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smoacs_cli.common import console, exit_on_bad_input, options_from_file, print_rates


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


def _check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is available on this machine (use --device cpu)")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"--device {device}: expected 'cpu' or 'cuda'")


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
    from smoacs_core.run import load_predictors
    from smoacs_core.run_output import check_output_dir
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.steps.optimize import OptimizeInput
    from smoacs_core.steps.optimize import optimize as optimize_step

    with exit_on_bad_input():
        if template is not None and input_path is not None:
            raise ValueError("--template and --input exclude each other: generate templates or read structures")
        _check_device(device)
        mode = "free" if input_path is not None else (template or TemplateKind.perovskite).value
        config = _optimization_config(
            config_file, mode, steps, seed, device, target_bandgap, margin, fidelity, formation_weight,
            include_elements, exclude_elements,
        )
        settings = SmoacsSettings()
        if settings.num_threads:
            import torch

            torch.set_num_threads(settings.num_threads)
        out = out or settings.results_dir / time.strftime("optimize-%Y%m%d-%H%M%S")
        check_output_dir(out, overwrite)
        predictors = load_predictors(config, settings)
        request = OptimizeInput(
            structures=_initial_structures(input_path, n, seed, config), config=config, out=out,
            novelty_reference=reference, overwrite=overwrite,
        )
        with Progress(
            TextColumn("[bold]SMOACS"), BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=console,
        ) as progress:
            task = progress.add_task("", total=config.steps)

            def on_step(record) -> None:
                met = " ".join(f"{k}={v:.2f}" for k, v in record.soft_success.items())
                progress.update(task, advance=1, description=f"loss={record.loss:.3f} {met}")

            optimized = optimize_step(request, predictors, on_step=on_step)
    for label, reason in optimized.rejected:
        console.print(f"[yellow]skipped[/yellow] {label}: {reason}")
    summary = optimized.outcome.summary
    print_rates(summary, f"{summary['n_samples']} candidates -> {optimized.out}")


def _optimization_config(
    config_file: Path | None, mode: str, steps: int | None, seed: int, device: str, target_bandgap: float,
    margin: float, fidelity: BandGapFidelity, formation_weight: float, include_elements: str | None,
    exclude_elements: str | None,
):
    """The OptimizationConfig of the preset ``mode`` (or of ``--config``), with the command line's settings;
    with ``--config``, the target and element flags are ignored."""
    from smoacs_core.config import OptimizationConfig
    from smoacs_core.targets import PropertyTarget

    overrides: dict = {"seed": seed, "device": device}
    if steps is not None:
        overrides["steps"] = steps
    if config_file is not None:
        return OptimizationConfig.model_validate({**options_from_file(config_file, "OptimizationConfig"), **overrides})
    overrides["targets"] = [
        PropertyTarget.band_gap(target_bandgap, margin, predictor=f"megnet-bandgap-{fidelity.value}"),
        PropertyTarget.formation_energy(weight=formation_weight),
    ]
    overrides["include_elements"] = _split(include_elements)
    overrides["exclude_elements"] = _split(exclude_elements) or []
    return OptimizationConfig.preset(mode, **overrides)


def _initial_structures(input_path: Path | None, n: int | None, seed: int, config) -> list:
    """(label, structure) pairs: ``n`` of the structures in ``--input`` drawn with ``seed``, or ``n`` (default
    16) random perovskite cells of the configuration's supercell and length range."""
    from smoacs_core.structure_io import read_structures
    from smoacs_core.templates import perovskite_cells

    if input_path is None:
        return perovskite_cells(n or 16, config.supercell_repeat, config.constraints.length_range, seed)
    labelled = read_structures(input_path)
    if n is not None and n < len(labelled):
        chosen = np.random.default_rng(seed).choice(len(labelled), size=n, replace=False)
        labelled = [labelled[i] for i in sorted(chosen)]
    return labelled


class Potential(str, Enum):
    m3gnet = "m3gnet"
    chgnet = "chgnet"


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
    from smoacs_core.relax.relax import RelaxConfig
    from smoacs_core.run import load_predictors
    from smoacs_core.run_output import check_output_dir
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.steps.prerelax import PrerelaxInput
    from smoacs_core.steps.prerelax import prerelax as prerelax_step

    out = out or optimized / "prerelaxed"
    with exit_on_bad_input():
        if not (optimized / "summary.json").is_file() or not (optimized / "candidates.csv").is_file():
            raise FileNotFoundError(f"{optimized}: not a `smoacs optimize` output (summary.json, candidates.csv)")
        check_output_dir(out, overwrite)
        config = OptimizationConfig.model_validate(json.loads((optimized / "summary.json").read_text())["config"])
        ids = list(pd.read_csv(optimized / "candidates.csv")["id"])
        candidates = [(i, Structure.from_file(optimized / "structures" / f"{i}.cif")) for i in ids]
        relax = RelaxConfig(potential=potential.value, fmax=fmax, max_steps=max_steps)
        settings = SmoacsSettings()
        predictors = load_predictors(config, settings)
        calculator = ase_calculator(relax.potential, settings, device=config.device)
    request = PrerelaxInput(candidates=candidates, optimization=config, relax=relax, out=out, optimized=str(optimized))
    with Progress(TextColumn("[bold]relax"), BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("", total=len(candidates))
        summary = prerelax_step(request, predictors, calculator, on_done=lambda _: progress.advance(task)).summary
    Console().print(
        f"success {summary['success_rate_unrelaxed']:.3f} unrelaxed (paper's metric) -> "
        f"{summary['success_rate_relaxed']:.3f} after relaxation; {summary['relax_status']} -> {out}"
    )
