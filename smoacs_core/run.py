"""One SMOACS optimization end to end: load predictors, optimize, judge, summarize (no I/O of results)."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version

import pandas as pd
import torch

from smoacs_core import __version__
from smoacs_core.config import OptimizationConfig
from smoacs_core.crystal import CrystalTemplate
from smoacs_core.evaluation import evaluate_candidates, summarize
from smoacs_core.optimizer import OptimizationResult, StepRecord, optimize
from smoacs_core.predictors import PropertyPredictor, load_predictor
from smoacs_core.settings import SmoacsSettings


@dataclass
class RunOutcome:
    """What a run produced: the optimizer's result, the per-candidate table and the summary."""

    result: OptimizationResult
    table: pd.DataFrame
    summary: dict


def load_predictors(config: OptimizationConfig, settings: SmoacsSettings) -> dict[str, PropertyPredictor]:
    """The built-in predictors the configuration's targets name."""
    return {name: load_predictor(name, settings) for name in sorted({t.predictor for t in config.targets})}


def provenance(predictors: dict[str, PropertyPredictor], config: OptimizationConfig) -> dict:
    """Which code, models and settings produced a result."""
    return {
        "smoacs": __version__,
        "torch": torch.__version__,
        "matgl": version("matgl"),
        "pymatgen": version("pymatgen"),
        "python": platform.python_version(),
        "device": config.device,
        "models": {name: p.identity for name, p in predictors.items()},
    }


def run_optimization(
    templates: Sequence[CrystalTemplate],
    config: OptimizationConfig,
    predictors: dict[str, PropertyPredictor],
    known_formulas: set[str] | None = None,
    reference_name: str | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
) -> RunOutcome:
    """Optimize, then judge every candidate on fresh graphs with one-hot types."""
    result = optimize(templates, predictors, config, on_step=on_step)
    start = time.perf_counter()
    table = evaluate_candidates(result.crystals, result.templates, predictors, config, device=config.device)
    if result.chosen_restarts:
        table["start"] = result.chosen_restarts
    summary = summarize(table, known_formulas)
    summary["timing"] = {
        "optimization_seconds": result.seconds,
        "graph_build_seconds": result.graph_seconds,
        "evaluation_seconds": time.perf_counter() - start,
        "seconds_per_step": result.seconds / max(len(result.history), 1),
    }
    summary["novelty_reference"] = reference_name if known_formulas is not None else None
    summary["config"] = config.model_dump(mode="json")
    summary["provenance"] = provenance(predictors, config)
    return RunOutcome(result=result, table=table, summary=summary)
