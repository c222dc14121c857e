"""Cross-check benchmark: how much MEGNet and M3GNet formation energies disagree on known materials and on
SMOACS candidates, and whether the disagreement flags wrong predictions.

Known materials: MP-20 as found in SMOACS_DATA_DIR, every split (real Materials Project structures with their
DFT formation energies; both models were trained on Materials Project data, so these are in their domain).
From them: the percentiles of |MEGNet - M3GNet| (the 95th is ``smoacs_core.cross_check``'s default
threshold), each model's error against DFT, and MEGNet's error on materials where the models agree versus
where they disagree. Candidates: 64 perovskites optimized by plain SMOACS (1.5 +- 0.2 eV, MEGNet predictors),
judged unrelaxed and after M3GNet relaxation: the fraction beyond the threshold.

Usage: ``SMOACS_MODEL_DIR=../shared/models/matgl SMOACS_DATA_DIR=../shared/data python
benchmarks/bench_cross_check.py``; results in ``benchmarks/results/cross_check.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PERCENTILES = (50, 90, 95, 99)


def known_materials(limit: int | None):
    """(structures, DFT formation energies) of the MP-20 data (every split) in SMOACS_DATA_DIR."""
    from smoacs_core.data.entries import ReferenceEntry
    from smoacs_core.data.sources import Mp20CsvSource

    structures, energies = [], []
    for entry in Mp20CsvSource().iter_entries():
        if isinstance(entry, ReferenceEntry) and entry.formation_energy_per_atom is not None:
            structures.append(entry.structure)
            energies.append(entry.formation_energy_per_atom)
        if limit and len(structures) >= limit:
            break
    return structures, np.asarray(energies, dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--known", type=int, default=None, help="at most this many MP-20 materials")
    parser.add_argument("--count", type=int, default=64, help="optimized perovskite candidates")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from smoacs_core.config import OptimizationConfig
    from smoacs_core.optimizer import optimize
    from smoacs_core.predictors.registry import load_predictor
    from smoacs_core.relax.potentials import ase_calculator
    from smoacs_core.relax.relax import RelaxConfig, relax_structures
    from smoacs_core.run import load_predictors
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.templates import perovskite_templates

    torch.set_num_threads(2)
    config = OptimizationConfig.preset("perovskite", seed=args.seed)  # MEGNet E_f and gap: the run's predictors
    predictors = load_predictors(config, SmoacsSettings())
    megnet, m3gnet = predictors["megnet-eform"], load_predictor("m3gnet-eform")
    known = set(megnet.supported_elements) & set(m3gnet.supported_elements)
    structures, dft = known_materials(args.known)
    usable = [i for i, s in enumerate(structures) if {e.symbol for e in s.composition} <= known]
    structures, dft = [structures[i] for i in usable], dft[usable]
    start = time.perf_counter()
    first, second = megnet.predict(structures), m3gnet.predict(structures)
    seconds = time.perf_counter() - start
    spread = np.abs(first - second)
    threshold = float(np.percentile(spread, 95))
    agree = spread <= threshold
    results: dict = {
        "known_materials": {
            "source": "MP-20 (every split in SMOACS_DATA_DIR)",
            "count": len(structures),
            "seconds_both_models": seconds,
            "disagreement_percentiles": {str(p): float(np.percentile(spread, p)) for p in PERCENTILES},
            "mae_vs_dft": {"megnet": float(np.abs(first - dft).mean()), "m3gnet": float(np.abs(second - dft).mean())},
            "megnet_mae_where_models_agree": float(np.abs(first - dft)[agree].mean()),
            "megnet_mae_where_models_disagree": float(np.abs(first - dft)[~agree].mean()),
            "mean_of_both_mae_vs_dft": float(np.abs((first + second) / 2 - dft).mean()),
        },
        "threshold_p95": threshold,
    }
    print(json.dumps(results, indent=2), flush=True)

    templates = perovskite_templates(args.count, length_range=(3.5, 5.0), seed=args.seed)
    optimized = [c.structure for c in optimize(templates, predictors, config).crystals]
    relaxed = relax_structures(optimized, [t.label for t in templates], ase_calculator("m3gnet"), RelaxConfig())
    candidates = {"optimized": optimized, "relaxed": [r.structure for r in relaxed if r.structure is not None]}
    results["candidates"] = {}
    for stage, group in candidates.items():
        difference = np.abs(megnet.predict(group) - m3gnet.predict(group))
        results["candidates"][stage] = {
            "count": len(group),
            "disagreement_percentiles": {str(p): float(np.percentile(difference, p)) for p in PERCENTILES},
            "fraction_beyond_threshold": float((difference > threshold).mean()),
        }
    print(json.dumps(results["candidates"], indent=2), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cross_check.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
