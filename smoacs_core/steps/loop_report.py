"""The closed loop's report: per round the correction it used, its DFT picks, how many DFT confirmed, the metals
among them, the prospective error (the round's model on its own picks, before it learned from them) and the
confirmed picks per CPU-hour of DFT, with one parity plot of every round's picks (model at selection vs DFT)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from pydantic import BaseModel, ConfigDict  # noqa: E402

from smoacs_core.files import FileRef  # noqa: E402
from smoacs_core.steps.round_outcome import RoundOutcome  # noqa: E402
from smoacs_core.targets import PropertyTarget  # noqa: E402

REPORT_FILE, PARITY_FILE = "loop_report.md", "prospective_parity.png"


class LoopRound(BaseModel):
    """One finished round as the report shows it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    number: int
    predictor: str
    trained_on: int
    cv_mae: float | None
    run_id: str
    outcome: RoundOutcome
    picks: pd.DataFrame
    """``round_outcome.round_picks`` of the round's run"""


class LoopReportInput(BaseModel):
    loop_id: str
    target: PropertyTarget
    rounds: list[LoopRound]
    out: Path


class LoopReportOutput(BaseModel):
    markdown: str
    report: FileRef
    parity: FileRef | None


def loop_report(request: LoopReportInput) -> LoopReportOutput:
    """Write ``loop_report.md`` (and the parity plot once a round has picks with a prediction) under ``out``."""
    request.out.mkdir(parents=True, exist_ok=True)
    parity = None
    if any(r.picks["predicted"].notna().any() for r in request.rounds):
        parity = request.out / PARITY_FILE
        _parity_plot(request.rounds, request.target, parity)
    markdown = _markdown(request, parity is not None)
    (request.out / REPORT_FILE).write_text(markdown)
    return LoopReportOutput(markdown=markdown, report=FileRef.of(request.out / REPORT_FILE),
                            parity=None if parity is None else FileRef.of(parity))


def _markdown(request: LoopReportInput, with_parity: bool) -> str:
    target = request.target
    lines = [f"# Closed loop `{request.loop_id}`", "",
             f"Band-gap window [{target.low:g}, {target.high:g}] eV. A pick is confirmed when its DFT gap lies in the "
             "window (and, where its DFT energy is on the hull reference's footing, within the hull limit). The "
             "prospective error is the round's model at selection against DFT, before the model learned from "
             "these picks.", "",
             "| round | correction | trained on | CV MAE (eV) | DFT picks | confirmed | metals | prospective MAE (eV) "
             "| confirmed formulas | DFT CPU-h | confirmed per DFT CPU-h |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in request.rounds:
        outcome, hours = r.outcome, r.outcome.dft_seconds / 3600
        lines.append(
            f"| {r.number} | `{r.predictor}` | {r.trained_on} | {_number(r.cv_mae)} | {outcome.picks} | "
            f"{outcome.confirmed} | {outcome.metals} | {_number(outcome.prospective_mae)} | "
            f"{', '.join(outcome.confirmed_formulas) or '-'} | {hours:.2f} | "
            f"{_number(outcome.confirmed / hours if hours else None, '.2f')} |")
    if with_parity:
        lines += ["", f"![prospective parity]({PARITY_FILE})"]
    for r in request.rounds:
        lines += ["", f"## Round {r.number} (`{r.run_id}`)", "",
                  "| candidate | formula | model at selection (eV) | DFT gap (eV) | confirmed |", "|---|---|---|---|---|"]
        lines += [f"| {p.id} | {p.formula} | {_number(p.predicted)} | {p.dft_band_gap:.3f} | "
                  f"{'yes' if p.confirmed else 'no'} |" for p in r.picks.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _number(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None or pd.isna(value) else format(value, spec)


def _parity_plot(rounds: list[LoopRound], target: PropertyTarget, path: Path) -> None:
    """Every round's picks: the gap the round's model gave at selection against DFT, the window shaded."""
    figure, axis = plt.subplots(figsize=(5, 5))
    top = 1.0
    for r in rounds:
        picks = r.picks.dropna(subset=["predicted"])
        if picks.empty:
            continue
        top = max(top, picks["predicted"].max(), picks["dft_band_gap"].max())
        mae = _number(r.outcome.prospective_mae, ".2f")
        axis.scatter(picks["predicted"], picks["dft_band_gap"], zorder=3, label=f"round {r.number} (MAE {mae} eV)")
    top *= 1.1
    axis.axhspan(target.low, target.high, color="tab:green", alpha=0.15, label="target window")
    axis.plot([0, top], [0, top], color="grey", linewidth=1)
    axis.set(xlim=(0, top), ylim=(0, top), xlabel="band gap of the round's model at selection (eV)",
             ylabel="DFT band gap (eV)", title="Closed loop: prospective parity")
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
