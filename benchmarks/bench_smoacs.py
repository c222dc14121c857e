"""SMOACS benchmark on this machine: speed, memory, overhead over the bare models, and the paper's success table.

Cases (each in a fresh subprocess so that peak memory is its own):

* ``perovskite``: 256 random ABX3 templates x 200 steps, MEGNet Eform + MEGNet PBE gap, band-gap targets
  0.5 / 1.5 / 2.5 eV at +-0.04 and +-0.2 (the paper's tables 3 and A.15 settings);
* ``supercell``: 32 random 3x3x3 perovskite cells (135 sites) x 200 steps, 1.5 eV +- 0.2;
* ``overhead``: time per step of the full SMOACS step against a bare forward + backward of the same two
  models on the same batch and graphs.

Usage: ``SMOACS_MODEL_DIR=../shared/models/matgl python benchmarks/bench_smoacs.py [--quick]``; results go to
``benchmarks/results/smoacs.json`` and a markdown table to ``benchmarks/results/smoacs.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = [(0.5, 0.04), (1.5, 0.04), (2.5, 0.04), (0.5, 0.2), (1.5, 0.2), (2.5, 0.2)]
THREADS = 2


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run_case(mode: str, count: int, steps: int, center: float, margin: float, seed: int) -> dict:
    """One optimization + evaluation; returns timing, memory and the summary."""
    import torch

    from smoacs_core.config import OptimizationConfig
    from smoacs_core.run import load_predictors, run_optimization
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.targets import PropertyTarget
    from smoacs_core.templates import perovskite_templates

    torch.set_num_threads(THREADS)
    config = OptimizationConfig.preset(
        mode,
        steps=steps,
        seed=seed,
        targets=[PropertyTarget.band_gap(center, margin), PropertyTarget.formation_energy()],
    )
    predictors = load_predictors(config, SmoacsSettings())
    templates = perovskite_templates(count, config.supercell_repeat, config.constraints.length_range, seed=seed)
    start = time.perf_counter()
    outcome = run_optimization(templates, config, predictors)
    wall = time.perf_counter() - start
    summary = {k: v for k, v in outcome.summary.items() if k not in ("config", "provenance")}
    return {
        "mode": mode,
        "count": count,
        "steps": steps,
        "target": center,
        "margin": margin,
        "seed": seed,
        "wall_seconds": wall,
        "peak_rss_gb": _peak_rss_gb(),
        "top_formulas_in_success": outcome.table.loc[outcome.table["success"], "formula"].value_counts().head(8).to_dict(),
        **summary,
    }


def run_overhead(count: int, repeats: int, seed: int) -> dict:
    """ms per step: full SMOACS step vs bare forward+backward of both models (same batch, same graphs)."""
    import torch

    from smoacs_core.batch import CrystalBatch
    from smoacs_core.config import OptimizationConfig
    from smoacs_core.optimizer import build_vocabulary, optimize
    from smoacs_core.run import load_predictors
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.templates import perovskite_templates

    torch.set_num_threads(THREADS)
    config = OptimizationConfig.preset("perovskite", steps=repeats, graph_rebuilds=0, seed=seed)
    predictors = load_predictors(config, SmoacsSettings())
    templates = perovskite_templates(count, seed=seed)
    vocabulary = build_vocabulary(predictors, config)

    optimize(templates, predictors, config.model_copy(update={"steps": 3}), vocabulary=vocabulary)  # warm-up
    result = optimize(templates, predictors, config, vocabulary=vocabulary)
    smoacs_ms = 1000 * sorted(r.seconds for r in result.history[1:])[len(result.history[1:]) // 2]

    structures = [c.structure for c in result.crystals]
    batch = CrystalBatch.from_structures(structures, vocabulary.symbols)
    graphs = {p.cutoff: p.graph_for(batch) for p in predictors.values()}
    times = []
    for _ in range(repeats):
        lattices = batch.lattices.clone().requires_grad_(True)
        frac = batch.frac_coords.clone().requires_grad_(True)
        probs = batch.type_probs.clone().requires_grad_(True)
        live = CrystalBatch(lattices, frac, batch.site_crystal, probs, batch.vocabulary)
        start = time.perf_counter()
        total = sum(p(live, graphs[p.cutoff]).sum() for p in predictors.values())
        total.backward()
        times.append(time.perf_counter() - start)
    bare_ms = 1000 * sorted(times)[len(times) // 2]
    return {
        "count": count,
        "smoacs_ms_per_step": smoacs_ms,
        "bare_models_ms_per_step": bare_ms,
        "overhead_ratio": smoacs_ms / bare_ms,
        "edges": {str(c): int(len(g.src)) for c, g in graphs.items()},
    }


def _subprocess(kind: str, **arguments) -> dict:
    command = [sys.executable, __file__, "--one", json.dumps({"kind": kind, **arguments})]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark case {kind} {arguments} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> str:
    lines = ["| case | target (eV) | success | (A) gap | (B) E_f | (C) valid | (D) perovskite | (c) tolerance | "
             "unique | wall (s) | peak RSS (GB) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for case in results["cases"]:
        rates = case["rates"]
        lines.append(
            f"| {case['mode']} x{case['count']} | {case['target']} +- {case['margin']} | {case['success_rate']:.3f} | "
            f"{rates['band_gap_ok']:.3f} | {rates['formation_energy_ok']:.3f} | {rates['valid_structure']:.3f} | "
            f"{rates['perovskite_ok']:.3f} | {rates['tolerance_ok']:.3f} | {case['unique_rate']:.3f} | "
            f"{case['wall_seconds']:.0f} | {case['peak_rss_gb']:.2f} |"
        )
    overhead = results["overhead"]
    lines += [
        "",
        f"Per step with {overhead['count']} cells: SMOACS {overhead['smoacs_ms_per_step']:.0f} ms, bare "
        f"forward+backward of both models {overhead['bare_models_ms_per_step']:.0f} ms, "
        f"overhead ratio {overhead['overhead_ratio']:.2f}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the benchmark itself")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.one:
        spec = json.loads(args.one)
        kind = spec.pop("kind")
        print(json.dumps(run_overhead(**spec) if kind == "overhead" else run_case(**spec), default=float))
        return
    count, supercells, steps = (16, 2, 20) if args.quick else (256, 32, 200)
    results: dict = {"threads": THREADS, "quick": args.quick, "cases": []}
    for center, margin in TARGETS:
        case = _subprocess("case", mode="perovskite", count=count, steps=steps, center=center, margin=margin,
                           seed=args.seed)
        print(f"perovskite {center}+-{margin}: success {case['success_rate']:.3f}, {case['wall_seconds']:.0f} s, "
              f"{case['peak_rss_gb']:.2f} GB", flush=True)
        results["cases"].append(case)
    case = _subprocess("case", mode="perovskite3x3x3", count=supercells, steps=steps, center=1.5, margin=0.2,
                       seed=args.seed)
    print(f"3x3x3 1.5+-0.2: success {case['success_rate']:.3f}, {case['wall_seconds']:.0f} s", flush=True)
    results["cases"].append(case)
    results["overhead"] = _subprocess("overhead", count=count, repeats=20 if args.quick else 40, seed=args.seed)
    RESULTS.mkdir(exist_ok=True)
    suffix = "-quick" if args.quick else ""
    (RESULTS / f"smoacs{suffix}.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (RESULTS / f"smoacs{suffix}.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
