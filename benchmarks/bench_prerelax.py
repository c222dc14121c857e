"""Pre-relaxation benchmark: structures per minute and fraction converged, M3GNet vs CHGNet, on optimized perovskites.

The candidates come from one SMOACS run (perovskite preset, 200 steps, 1.5 +- 0.2 eV); each potential relaxes
the same structures (FIRE, cell relaxation, fmax 0.1 eV/A, at most 300 steps). Also reported: the paper's
success rate before relaxation and the rate after it (same predictors and criteria on the relaxed structures).

Usage: ``SMOACS_MODEL_DIR=../shared/models/matgl python benchmarks/bench_prerelax.py [--count 256]``; results in
``benchmarks/results/prerelax.json`` (a potential run alone replaces only its own entry when the optimized
structures are the same, by hash, so the potentials can be measured in separate sessions).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=256, help="optimized perovskites to relax")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--potentials", nargs="+", default=["m3gnet", "chgnet"], choices=["m3gnet", "chgnet"])
    args = parser.parse_args()

    import torch

    from smoacs_core.config import OptimizationConfig
    from smoacs_core.optimizer import optimize
    from smoacs_core.relax.potentials import ase_calculator, potential_identity
    from smoacs_core.relax.relax import RelaxConfig, relax_structures
    from smoacs_core.relax.survival import evaluate_relaxed, survival_summary
    from smoacs_core.run import load_predictors
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.templates import perovskite_templates

    torch.set_num_threads(2)
    config = OptimizationConfig.preset("perovskite", seed=args.seed)
    predictors = load_predictors(config, SmoacsSettings())
    templates = perovskite_templates(args.count, seed=args.seed)
    structures = [c.structure for c in optimize(templates, predictors, config).crystals]
    labels = [t.label for t in templates]
    fingerprint = hashlib.sha256("".join(s.to(fmt="poscar") for s in structures).encode()).hexdigest()[:16]
    out = RESULTS / "prerelax.json"
    results: dict = {"count": args.count, "seed": args.seed, "threads": 2, "structures_sha256": fingerprint,
                     "potentials": {}}
    earlier = json.loads(out.read_text()) if out.exists() else {}
    if earlier.get("structures_sha256") == fingerprint:
        results["potentials"] = earlier["potentials"]  # the same structures: keep the other potential's numbers
    for potential in args.potentials:
        relax = RelaxConfig(potential=potential)
        calculator = ase_calculator(potential)
        start, cpu_start = time.perf_counter(), time.process_time()
        relaxed = relax_structures(structures, labels, calculator, relax)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        table = evaluate_relaxed(structures, relaxed, templates, predictors, config)
        results["potentials"][potential] = {
            "model": potential_identity(potential),
            "seconds": seconds,
            "structures_per_minute": 60 * len(structures) / seconds,
            # CPU seconds (both threads) per structure: less sensitive than wall time to other load on the machine
            "cpu_seconds_per_structure": cpu_seconds / len(structures),
            "load_average_after": os.getloadavg()[0],
            "fraction_converged": sum(r.converged for r in relaxed) / len(relaxed),
            "mean_steps": sum(r.steps for r in relaxed) / len(relaxed),
            **survival_summary(table),
        }
        print(potential, json.dumps(results["potentials"][potential], default=float), flush=True)
        RESULTS.mkdir(exist_ok=True)  # written after each potential: a crash in the next one keeps this one
        out.write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
