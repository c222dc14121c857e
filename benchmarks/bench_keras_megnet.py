"""How good are the legacy Keras MEGNet models (``megnet-mf2020-*``, ``megnet2018-*``) as band-gap opinions, on MP
rows and on the candidates DFT has checked?

1. ``mp20_subset``: all 1,112 rows of ``../shared/data/mp_20_subset`` (train, val and test of the MP-20 subset),
   PBE band gaps from the Materials Project. The six multi-fidelity models were trained on 80 % of 52,348 MP PBE
   gaps of 2019, so many of these rows are probably training data: the publication's test MAE (0.28 eV) is the
   honest number, these are an upper bound on accuracy. Also the MP-2018 band-gap regressor (trained on
   non-metals) and metal classifier, and the project's matgl band-gap model for comparison.
2. ``gpaw_checked``: the 139 distinct GPAW-checked candidates of the variant benchmark (the rows and relaxed
   structures ``bench_second_opinion.py`` reads): each model's PBE gap against GPAW's (a PBE functional too), the
   mean of the six, and whether the six-model spread (standard deviation, the published uncertainty) ranks the
   error of their mean (Spearman) and tells GPAW misses from confirmed candidates (ROC AUC).

Predicted gaps are clipped at 0 eV before any error is taken (a regressor may dip slightly below zero on metals).

Usage: ``SMOACS_MODEL_DIR=../shared/models/matgl SMOACS_MEGNET_KERAS_DIR=../shared/models/megnet_keras
SMOACS_DATA_DIR=../shared/data python benchmarks/bench_keras_megnet.py``; results in
``benchmarks/results/keras_megnet.json``. Needs no DFT (the GPAW gaps are read from variants.json).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from bench_second_opinion import METAL_GAP, auc, gpaw_checked
from bench_variants import RESULTS

SIX = [f"megnet-mf2020-{model}-pbe" for model in range(6)]
OTHERS = ["megnet2018-bandgap", "megnet-bandgap-pbe"]


def predict(structures: list, names: list[str]) -> dict[str, np.ndarray]:
    from smoacs_core.predictors import load_predictor

    return {name: load_predictor(name).predict(structures) for name in names}


def gap_errors(predictions: dict[str, np.ndarray], reference: np.ndarray) -> dict:
    """MAE of each model and of the six models' mean, on all structures and on those with a reference gap."""
    gapped = reference > METAL_GAP
    six = np.stack([predictions[name] for name in SIX])
    values = {name: np.maximum(predictions[name], 0.0) for name in [*SIX, *OTHERS]}
    values["mean_of_six"] = np.maximum(six.mean(axis=0), 0.0)
    return {name: {"mae_all": float(np.abs(value - reference).mean()),
                   "mae_gapped": float(np.abs(value[gapped] - reference[gapped]).mean())}
            for name, value in values.items()}


def spread_signal(predictions: dict[str, np.ndarray], reference: np.ndarray, confirmed: np.ndarray | None) -> dict:
    """Does the six-model spread rank the error of their mean?"""
    from scipy.stats import spearmanr

    six = np.stack([predictions[name] for name in SIX])
    spread, error = six.std(axis=0), np.abs(np.maximum(six.mean(axis=0), 0.0) - reference)
    gapped = reference > METAL_GAP
    result = {"spearman_spread_vs_abs_error": float(spearmanr(spread, error).statistic),
              "spearman_spread_vs_abs_error_gapped": float(spearmanr(spread[gapped], error[gapped]).statistic),
              "median_spread": float(np.median(spread))}
    if confirmed is not None:
        result["auc_spread_miss_vs_confirmed"] = auc(spread, ~confirmed)
    return result


def main() -> None:
    from pymatgen.core import Structure

    from smoacs_core.settings import SmoacsSettings

    data = SmoacsSettings().data_dir / "mp_20_subset"
    rows = pd.concat([pd.read_csv(data / f"{split}.csv") for split in ("train", "val", "test")])
    structures = [Structure.from_str(cif, fmt="cif") for cif in rows["cif"]]
    predictions = predict(structures, [*SIX, *OTHERS, "megnet2018-metal-probability"])
    mp_gap = rows["band_gap"].to_numpy()
    mp = {"rows": len(rows), "rows_with_gap": int((mp_gap > METAL_GAP).sum()),
          "band_gap": gap_errors(predictions, mp_gap), "spread": spread_signal(predictions, mp_gap, None),
          "metal_classifier_accuracy": float(((predictions["megnet2018-metal-probability"] > 0.5)
                                              == (mp_gap <= METAL_GAP)).mean()),
          "metal_classifier_auc": auc(predictions["megnet2018-metal-probability"], mp_gap <= METAL_GAP)}

    benchmark = json.loads((RESULTS / "variants.json").read_text())
    checked = gpaw_checked(benchmark["variants"], benchmark["margin"])
    structures = [Structure.from_dict(row.pop("structure")) for row in checked]
    predictions = predict(structures, [*SIX, *OTHERS, "megnet2018-metal-probability"])
    gpaw = np.array([row["gpaw_gap"] for row in checked])
    confirmed = np.array([row["confirmed"] for row in checked])
    gpaw_results = {"candidates": len(checked), "gpaw_metals": int((gpaw <= METAL_GAP).sum()),
                    "band_gap": gap_errors(predictions, gpaw), "spread": spread_signal(predictions, gpaw, confirmed),
                    "metal_classifier_auc": auc(predictions["megnet2018-metal-probability"], gpaw <= METAL_GAP),
                    "rows": [{"candidate": row["candidate"], "formula": row["formula"], "gpaw_gap": row["gpaw_gap"],
                              **{name: float(values[index]) for name, values in predictions.items()}}
                             for index, row in enumerate(checked)]}

    results = {"mp20_subset": mp, "gpaw_checked": gpaw_results}
    summary = {"mp20_subset": mp, "gpaw_checked": {k: v for k, v in gpaw_results.items() if k != "rows"}}
    print(json.dumps(summary, indent=2), flush=True)
    (RESULTS / "keras_megnet.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
