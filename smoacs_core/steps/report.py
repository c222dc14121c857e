"""Stage 'report': a run's candidates and what every stage recorded, summarized into files a person reads.

The paper's success rate (predictors on the unrelaxed optimized structures) beside the rate after ML
relaxation and the DFT-confirmed rate, uniqueness and novelty, second-model agreement, DFT statuses with an
ML-vs-DFT parity plot, and the top candidates. The caller reads the store and hands everything in; the step
writes ``report.md``, ``summary.json``, ``candidates.csv`` and the plots to ``out``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from pydantic import BaseModel, ConfigDict  # noqa: E402

from smoacs_core.confirmation import HULL_COLUMN, dft_confirmed  # noqa: E402
from smoacs_core.cross_check import AGREE  # noqa: E402
from smoacs_core.evaluation import criterion_columns, summarize  # noqa: E402
from smoacs_core.files import FileRef  # noqa: E402
from smoacs_core.reference import known_formulas  # noqa: E402
from smoacs_core.stages import StructureStage  # noqa: E402
from smoacs_core.targets import PropertyTarget, range_target  # noqa: E402

TOP_CANDIDATES = 20
DFT_COLUMNS = ("dft.band_gap", "dft.band_gap_ok", HULL_COLUMN)


def describe_statuses(counts: Mapping[str, int]) -> str:
    """Calculations per status, as logs and reports say it: '2 completed, 1 failed'."""
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"


class ReportInput(BaseModel):
    """Everything the store holds about a run that the report shows."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str
    candidates: pd.DataFrame
    """the store's candidate table (one column per stage and property or criterion)"""
    dft_calculations: pd.DataFrame
    stage_statuses: dict[str, tuple[str, str]]
    batch_states: dict[str, str]
    targets: list[PropertyTarget]
    judged: StructureStage
    """the stage whose predictions DFT checks"""
    novelty_reference: str | None = None
    dft_notes: list[str] = []
    """what the report says about the footing of the DFT codes' energies"""
    max_e_above_hull: float | None = None
    """the run's hull limit of DFT confirmation (eV/atom), where DFT energies were judged against it"""
    out: Path


class ReportOutput(BaseModel):
    """The summary (also stored with the run), the markdown, the top candidates and the files."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    summary: dict
    markdown: str
    top: pd.DataFrame
    report: FileRef
    candidates_csv: FileRef
    plot: FileRef


def _stage_table(candidates: pd.DataFrame, stage: str) -> pd.DataFrame:
    """Columns of one stage without their 'stage.' prefix, as smoacs_core.evaluation names them."""
    prefix = f"{stage}."
    renamed = {c: c.removeprefix(prefix) for c in candidates.columns if c.startswith(prefix)}
    table = candidates[["id", "batch", "template", "formula", *renamed]].rename(columns=renamed)
    return table.astype(dict.fromkeys(criterion_columns(table), bool))


def _judged_by(candidates: pd.DataFrame, criterion: str) -> tuple[str, pd.DataFrame] | None:
    """The stage a judging stage (deduplicate, cross_check) recorded ``criterion`` at, and the candidates it
    judged there; None if it did not run."""
    stages = (StructureStage.PRERELAXED, StructureStage.OPTIMIZED)
    stage = next((s for s in stages if f"{s}.{criterion}" in candidates.columns), None)
    return None if stage is None else (stage, candidates.dropna(subset=[f"{stage}.{criterion}"]))


def _uniqueness(candidates: pd.DataFrame) -> dict | None:
    """Counts from stage 'deduplicate' (its criteria at the stage it judged), or None if it did not run."""
    if (found := _judged_by(candidates, "unique")) is None:
        return None
    stage, judged = found
    unique = judged[f"{stage}.unique"].astype(bool)
    counts = {"stage": stage, "candidates": len(judged), "unique": int(unique.sum())}
    if f"{stage}.novel_structure" in judged.columns:
        novel = judged[f"{stage}.novel_structure"].astype(bool)
        success = judged["success"].astype(bool)
        counts |= {"novel_structure": int(novel.sum()),
                   "novel_composition": int(judged[f"{stage}.novel_composition"].astype(bool).sum()),
                   "successes_unique_novel": int((success & unique & novel).sum())}
    return counts


def _cross_check(candidates: pd.DataFrame) -> dict | None:
    """Counts from stage 'cross_check' (at the stage it judged), or None if it did not run."""
    if (found := _judged_by(candidates, AGREE)) is None:
        return None
    stage, judged = found
    agree = judged[f"{stage}.{AGREE}"].astype(bool)
    spread = [c for c in judged.columns if c.startswith(f"{stage}.") and c.endswith("_disagreement")]
    return {"stage": stage, "candidates": len(judged), "agree": int(agree.sum()),
            "successes_agree": int((agree & judged["success"].astype(bool)).sum()),
            "mean_disagreement": {c.removeprefix(f"{stage}.").removesuffix("_disagreement"): float(judged[c].mean())
                                  for c in spread}}


def _dft(rows: pd.DataFrame, candidates: pd.DataFrame, judged_stage: str, max_e_above_hull: float | None
         ) -> dict | None:
    """DFT counts per status, the confirmed rate (``smoacs_core.confirmation``), and ML-vs-DFT band gaps, or None
    if no DFT was handed out."""
    if rows.empty:
        return None
    completed = rows[rows["status"] == "completed"]
    labels = sorted({f"{r.code}-{r.functional}" for r in completed.itertuples(index=False)})
    summary: dict = {"codes": sorted(set(rows["code"])), "labels": labels,
                     "statuses": rows["status"].value_counts().to_dict(), "completed": len(completed)}
    table = candidates.set_index("id").loc[list(completed["candidate_id"])]
    if "dft.band_gap_ok" in table.columns and len(table):
        gap_in_window = table["dft.band_gap_ok"].fillna(False).astype(bool)
        confirmed = dft_confirmed(gap_in_window, table)
        summary |= {"confirmed": int(confirmed.sum()), "confirmed_rate": float(confirmed.mean()),
                    "gap_in_window": int(gap_in_window.sum())}
        if HULL_COLUMN in table.columns and table[HULL_COLUMN].notna().any():
            judged = table[HULL_COLUMN].dropna().astype(bool)
            summary |= {"hull_judged": len(judged), "within_hull_limit": int(judged.sum()),
                        "max_e_above_hull": max_e_above_hull}
        elif "dft.e_above_hull" in table.columns and table["dft.e_above_hull"].notna().any():
            summary["hull_shown_only"] = True
    if {"dft.band_gap", f"{judged_stage}.band_gap"} <= set(table.columns) and len(table):
        drift = (table["dft.band_gap"] - table[f"{judged_stage}.band_gap"]).dropna()
        summary |= {"ml_stage": judged_stage, "mean_abs_gap_drift": float(drift.abs().mean()),
                    "mean_gap_drift": float(drift.mean()),
                    "gaps": {i: {"ml": float(table.loc[i, f"{judged_stage}.band_gap"]),
                                 "dft": float(table.loc[i, "dft.band_gap"])} for i in drift.index}}
    return summary


def _parity_plot(dft: dict, target: PropertyTarget | None, path: Path) -> None:
    """DFT band gap against the ML prediction it checks, the target range shaded."""
    gaps = dft["gaps"]
    ml = [g["ml"] for g in gaps.values()]
    computed = [g["dft"] for g in gaps.values()]
    top = max([*ml, *computed, 1.0]) * 1.1
    figure, axis = plt.subplots(figsize=(5, 5))
    if target is not None:
        axis.axhspan(target.low, target.high, color="tab:green", alpha=0.15, label="target range")
    axis.plot([0, top], [0, top], color="grey", linewidth=1)
    axis.scatter(ml, computed, color="tab:blue", zorder=3)
    for candidate, x, y in zip(gaps, ml, computed, strict=True):
        axis.annotate(candidate.rsplit("-", 1)[-1], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    axis.set(xlim=(0, top), ylim=(0, top), xlabel=f"ML band gap, {dft['ml_stage']} structure (eV)",
             ylabel=f"DFT band gap, {', '.join(dft['labels'])} (eV)",
             title=f"ML vs DFT: mean |difference| {dft['mean_abs_gap_drift']:.2f} eV")
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot(table: pd.DataFrame, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 4.5))
    if {"band_gap", "formation_energy"} <= set(table.columns):
        for success, color, label in ((False, "lightgrey", "other"), (True, "tab:green", "success")):
            part = table[table["success"] == success]
            axis.scatter(part["band_gap"], part["formation_energy"], s=12, color=color, label=label)
        axis.set(xlabel="predicted band gap (eV)", ylabel="predicted E_f (eV/atom)")
        axis.legend()
    axis.set_title("candidates after SMOACS (predicted, unrelaxed)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _markdown(
    run_id: str, summary: dict, statuses: dict, batches: dict[str, str], top: pd.DataFrame, dft_notes: list[str]
) -> str:
    relaxed = summary.get("relaxed", {"rates": {}})
    lines = [f"# Discovery run `{run_id}`", "", f"{summary['n_samples']} candidates, success rate "
             f"**{summary['success_rate']:.3f}** (paper's metric: predictors on the unrelaxed optimized structures)"
             + (f", **{relaxed['success_rate']:.3f}** after ML relaxation (same predictors and criteria on the "
                f"relaxed structures, relaxation converged)." if "success_rate" in relaxed else "."),
             "", "| criterion | unrelaxed (paper) | after ML relaxation |", "|---|---|---|"]
    for name, rate in {"success": summary["success_rate"], **summary["rates"]}.items():
        after = relaxed.get("success_rate") if name == "success" else relaxed["rates"].get(name)
        lines.append(f"| {name} | {rate:.3f} | {'n/a' if after is None else f'{after:.3f}'} |")
    for name in ("unique_rate", "unique_rate_in_success", "unique_novel_rate_in_success"):
        value = summary.get(name)
        lines.append(f"| {name} | {'n/a' if value is None else f'{value:.3f}'} |")
    if "uniqueness" in summary:
        counts = summary["uniqueness"]
        lines += ["", f"Of {counts['candidates']} {counts['stage']} candidates, {counts['unique']} are unique "
                  "(StructureMatcher)" + (f"; {counts['novel_structure']} have a structure and "
                  f"{counts['novel_composition']} a composition not in the reference; "
                  f"{counts['successes_unique_novel']} are successes that are unique and novel."
                  if "novel_structure" in counts else ".")]
    if "cross_check" in summary:
        check = summary["cross_check"]
        spread = ", ".join(f"{p} {v:.3f}" for p, v in check["mean_disagreement"].items())
        lines += ["", f"Second models agree with the run's predictors on {check['agree']} of {check['candidates']} "
                  f"{check['stage']} candidates ({check['successes_agree']} of them successes); mean |difference|: "
                  f"{spread}. Disagreeing candidates go to DFT last."]
    if "dft" in summary:
        dft = summary["dft"]
        codes = ", ".join(dft["labels"]) or ", ".join(dft["codes"])
        lines += ["", f"DFT ({codes}): {describe_statuses(dft['statuses'])}."]
        if "hull_judged" in dft:
            lines.append(f"DFT-confirmed: **{dft['confirmed']} of {dft['completed']}** completed candidates "
                         f"(rate {dft['confirmed_rate']:.3f}): DFT band gap in the target range "
                         f"({dft['gap_in_window']} of {dft['completed']}) and, for the {dft['hull_judged']} whose "
                         "DFT energy is on the hull reference's footing (VASP with MP2020 corrections), at most "
                         f"{dft['max_e_above_hull']} eV/atom above the hull ({dft['within_hull_limit']} of "
                         f"{dft['hull_judged']}).")
        elif "confirmed" in dft:
            lines.append(f"DFT-confirmed: **{dft['confirmed']} of {dft['completed']}** completed candidates "
                         f"have a DFT band gap in the target range (rate {dft['confirmed_rate']:.3f}).")
        if dft.get("hull_shown_only"):
            lines.append("The DFT energies above hull are shown but not part of the confirmation: the hull "
                         "reference is not on the MP2020 footing of the VASP energies (for that, hull.reference "
                         "'mp_api' or an entries file of MP2020 entries).")
        if "mean_abs_gap_drift" in dft:
            lines.append(f"ML ({dft['ml_stage']} structure) vs DFT band gap: mean |difference| "
                         f"{dft['mean_abs_gap_drift']:.2f} eV, DFT minus ML {dft['mean_gap_drift']:+.2f} eV on average "
                         "(dft_parity.png).")
        lines += dft_notes
    lines += ["", "| stage | status | note |", "|---|---|---|"]
    lines += [f"| {stage} | {status} | {message} |" for stage, (status, message) in statuses.items()]
    if batches:
        reused = sum(state == "Cached" for state in batches.values())
        lines += ["", f"Optimization batches: {len(batches)} ({reused} reused from the cache)."]
    lines += ["", "## Top candidates", "", top.to_markdown(index=False) if not top.empty else "none"]
    return "\n".join(lines) + "\n"


def report(request: ReportInput) -> ReportOutput:
    """Summarize the run, write the report files, return what the caller stores and shows."""
    candidates = request.candidates
    table = _stage_table(candidates, StructureStage.OPTIMIZED)
    known = known_formulas(request.novelty_reference) if request.novelty_reference else None
    summary = summarize(table, known)
    if f"{StructureStage.PRERELAXED}.success" in candidates.columns:
        relaxed = summarize(_stage_table(candidates.dropna(subset=[f"{StructureStage.PRERELAXED}.success"]),
                                         StructureStage.PRERELAXED), known)
        summary["relaxed"] = {"n_samples": relaxed["n_samples"], "success_rate": relaxed["success_rate"],
                              "rates": relaxed["rates"]}
    uniqueness = _uniqueness(candidates)
    if uniqueness is not None:
        summary["uniqueness"] = uniqueness
    cross_check = _cross_check(candidates)
    if cross_check is not None:
        summary["cross_check"] = cross_check
    summary["batches"] = request.batch_states
    directory = request.out
    directory.mkdir(parents=True, exist_ok=True)
    dft = _dft(request.dft_calculations, candidates, request.judged, request.max_e_above_hull)
    if dft is not None:
        summary["dft"] = dft
        if dft.get("gaps"):
            _parity_plot(dft, range_target(request.targets, "band_gap"), directory / "dft_parity.png")
    table.to_csv(directory / "candidates.csv", index=False)
    _plot(table, directory / "candidates.png")
    hull_columns = [c for c in candidates.columns
                    if c.endswith((".e_above_hull", ".unique", ".novel_structure", f".{AGREE}")) or c in DFT_COLUMNS]
    ranking = table.join(candidates.set_index("id")[hull_columns], on="id")
    ranking = ranking.assign(_order=~ranking["success"]).sort_values(["_order", "formation_energy"])
    columns = [c for c in ("id", "formula", "band_gap", "formation_energy", "tolerance_factor", "success")
               if c in table] + hull_columns
    top = ranking[columns].head(TOP_CANDIDATES).round(3)
    markdown = _markdown(request.run_id, summary, request.stage_statuses, request.batch_states, top,
                         request.dft_notes)
    (directory / "report.md").write_text(markdown)
    (directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return ReportOutput(summary=summary, markdown=markdown, top=top, report=FileRef.of(directory / "report.md"),
                        candidates_csv=FileRef.of(directory / "candidates.csv"),
                        plot=FileRef.of(directory / "candidates.png"))
