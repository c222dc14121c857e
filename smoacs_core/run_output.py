"""Writing an optimization's results to a directory: structures, per-candidate table, summary, history plot.

Layout of ``out/``::

    summary.json        sample count, success rate, rate of every criterion, diversity, settings, models
    candidates.csv      one row per candidate: id, formula, predictions, every criterion
    history.csv         one row per step: temperature, loss, mean predictions, soft success, crystals moved by
                        the relaxation projection, the stability term's parts
    history.png         the same as a plot, graph rebuilds marked
    structures/<id>.cif and structures/<id>.vasp
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from pymatgen.io.cif import CifWriter  # noqa: E402

from smoacs_core.optimizer import OptimizationResult  # noqa: E402

RESULT_MARKER = "summary.json"


class OutputExistsError(FileExistsError):
    """The output directory already holds a run; we never overwrite results silently."""


def check_output_dir(out: Path, overwrite: bool = False) -> None:
    """Refuse an output directory that already holds results, unless ``overwrite``."""
    if (Path(out) / RESULT_MARKER).exists() and not overwrite:
        raise OutputExistsError(f"{out} already holds results ({RESULT_MARKER}); choose another --out or --overwrite")


def prepare_output_dir(out: Path, overwrite: bool = False) -> Path:
    """Create ``out`` (after :func:`check_output_dir`)."""
    check_output_dir(out, overwrite)
    out = Path(out)
    (out / "structures").mkdir(parents=True, exist_ok=True)
    return out


def history_frame(result: OptimizationResult) -> pd.DataFrame:
    rows = []
    for record in result.history:
        row = {
            "step": record.step,
            "temperature": record.temperature,
            "loss": record.loss,
            "finite_fraction": record.finite_fraction,
            "graph_rebuilt": record.graph_rebuilt,
            "relaxed": record.relaxed,
            "seconds": record.seconds,
        }
        row.update({f"mean_{k}": v for k, v in record.mean_predictions.items()})
        row.update({f"soft_success_{k}": v for k, v in record.soft_success.items()})
        row.update({f"stability_{k}": v for k, v in record.stability.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def plot_history(history: pd.DataFrame, path: Path) -> None:
    """Loss, mean predictions and in-target fraction per step; dotted lines mark graph rebuilds."""
    prediction_columns = [c for c in history.columns if c.startswith("mean_")]
    success_columns = [c for c in history.columns if c.startswith("soft_success_")]
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(history["step"], history["loss"])
    axes[0].set(xlabel="step", ylabel="mean loss", title="loss")
    for column in prediction_columns:
        axes[1].plot(history["step"], history[column], label=column.removeprefix("mean_"))
    axes[1].set(xlabel="step", ylabel="mean prediction", title="predictions (soft crystals)")
    for column in success_columns:
        axes[2].plot(history["step"], history[column], label=column.removeprefix("soft_success_"))
    axes[2].set(xlabel="step", ylabel="fraction meeting target", title="targets met (soft, current graph)")
    for axis in axes:
        for step in history.loc[history["graph_rebuilt"], "step"]:
            axis.axvline(step, color="grey", alpha=0.15, linestyle=":")
    for axis in axes[1:]:
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def write_results(
    out: Path, result: OptimizationResult, table: pd.DataFrame, summary: dict
) -> None:
    """Write every result file; the summary goes last so its presence means the run is complete."""
    structures_dir = out / "structures"
    structures_dir.mkdir(parents=True, exist_ok=True)
    for candidate_id, crystal in zip(table["id"], result.crystals, strict=True):
        CifWriter(crystal.structure).write_file(structures_dir / f"{candidate_id}.cif")
        crystal.structure.to(filename=str(structures_dir / f"{candidate_id}.vasp"), fmt="poscar")
    table.to_csv(out / "candidates.csv", index=False)
    history = history_frame(result)
    history.to_csv(out / "history.csv", index=False)
    plot_history(history, out / "history.png")
    _atomic_write(out / RESULT_MARKER, json.dumps(summary, indent=2, default=str) + "\n")
