"""How well do the band-gap models and the DFT correction predict GPAW on checks they have not seen?

The 137 distinct GPAW-checked candidates (``results/gpaw_labels.json``, from ``export_gpaw_labels.py``) in 19
checks of 8. Every single model and committee mean is scored as it is (it never saw these labels); each
correction (ensemble trained on the labels, ``smoacs_core.correction``) is scored leave-one-check-out: trained on
18 checks, judged on the 19th, for every check. Reported: MAE against GPAW on all labels and on GPAW non-metals,
and the Spearman correlation of the correction's uncertainty with its held-out error.

Usage: ``SMOACS_MODEL_DIR=../shared/models/matgl SMOACS_MEGNET_KERAS_DIR=../shared/models/megnet_keras
python benchmarks/bench_correction.py``; results in ``benchmarks/results/correction.json``. Needs no DFT.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from bench_variants import RESULTS
from scipy.stats import spearmanr

from smoacs_core.correction.predictor import DftCorrectedPredictor
from smoacs_core.correction.training import CorrectionConfig, fit, label_inputs, usable_labels
from smoacs_core.labels.importing import read_labels
from smoacs_core.predictors import load_predictor

METAL_GAP = 0.05
MEMBER_SETS = {
    "shipped MEGNet + CGCNN + CGCNN metal": ("megnet-bandgap-pbe", "cgcnn-bandgap", "cgcnn-metal-probability"),
    "six MF MEGNet (mean) + CGCNN + CGCNN metal": ("megnet-mf2020-pbe", "cgcnn-bandgap", "cgcnn-metal-probability"),
    "all: six MF mean, shipped MEGNet, CGCNN, both metal classifiers": (
        "megnet-mf2020-pbe", "megnet-bandgap-pbe", "cgcnn-bandgap", "cgcnn-metal-probability",
        "megnet2018-metal-probability"),
}
SINGLE_MODELS = ("megnet-bandgap-pbe", "megnet-mf2020-pbe", "committee-bandgap-pbe", "cgcnn-bandgap",
                 "megnet2018-bandgap")


def scores(predicted: np.ndarray, gaps: np.ndarray) -> dict:
    gapped = gaps > METAL_GAP
    return {"mae": float(np.abs(predicted - gaps).mean()),
            "mae_gpaw_non_metals": float(np.abs(predicted[gapped] - gaps[gapped]).mean())}


def leave_one_check_out(members: dict, labels: list, config: CorrectionConfig) -> dict:
    """Held-out mean and uncertainty of every label, from corrections trained without its check."""
    predictor = DftCorrectedPredictor(members, config.ensemble_size, config.hidden, "benchmark")
    inputs = label_inputs(predictor, labels)
    gaps = torch.tensor([label.band_gap for label in labels])
    groups = np.array([label.group for label in labels])
    mean, sigma = np.zeros(len(labels)), np.zeros(len(labels))
    for group in dict.fromkeys(groups):
        test = torch.as_tensor(groups == group)
        fold = DftCorrectedPredictor(members, config.ensemble_size, config.hidden, "fold")
        fit(fold, inputs[~test], gaps[~test], config)
        with torch.no_grad():
            predictions = fold.ensemble_predictions(inputs[test])
        mean[test.numpy()] = predictions.mean(0).numpy()
        sigma[test.numpy()] = np.sqrt(predictions.std(0).numpy() ** 2 + float(fold.noise) ** 2)
    error = np.abs(mean - gaps.numpy())
    return {**scores(mean, gaps.numpy()), "uncertainty_error_spearman": float(spearmanr(sigma, error).statistic)}


def main() -> None:
    labels = read_labels(RESULTS / "gpaw_labels.json")
    config = CorrectionConfig()
    loaded = {name: load_predictor(name) for name in {*SINGLE_MODELS, *(m for s in MEMBER_SETS.values() for m in s)}}
    labels = usable_labels(labels, config, [e for e in loaded["committee-bandgap-pbe"].supported_elements
                                            if all(e in p.supported_elements for p in loaded.values())])
    structures = [label.structure for label in labels]
    gaps = np.array([label.band_gap for label in labels])
    out = {"labels": len(labels), "checks": len({label.group for label in labels}),
           "gpaw_metals": int((gaps <= METAL_GAP).sum()), "config": config.model_dump(mode="json"),
           "models": {}, "corrections": {}}
    for name in SINGLE_MODELS:
        out["models"][name] = scores(np.clip(loaded[name].predict(structures), 0, None), gaps)
        print(name, out["models"][name], flush=True)
    for title, members in MEMBER_SETS.items():
        start = time.process_time()
        out["corrections"][title] = {
            "members": list(members),
            **leave_one_check_out({m: loaded[m] for m in members}, labels, config),
            "cpu_seconds": time.process_time() - start,
        }
        print(title, out["corrections"][title], flush=True)
    (RESULTS / "correction.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
