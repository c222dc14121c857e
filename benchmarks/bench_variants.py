"""Which optimization keeps candidates physical? The paper's metric, the rate after ML relaxation and the
GPAW-confirmed rate, per SMOACS variant (issue 7).

Variants (perovskite mode, MEGNet E_f + MEGNet PBE gap, 200 steps):

* ``plain``: the paper's method (the control);
* ``projection``: relaxation projection, M3GNet-relaxed geometry at 4 graph rebuilds (``RelaxationProjection``);
* ``composition_only``: lattice and coordinate rates 0, geometry only from the projections;
* ``stability``: the ML-potential stability term in the loss (``StabilityTerm`` defaults);
* ``composition_straight_through``: ``composition_only`` with the straight-through estimator (the predictors
  judge the one-hot crystals), softmax temperature 1 -> 0.1 and type/pattern rates 0.2;
* ``composition_restarts``: ``composition_straight_through`` with 4 random starts per template (initial logits
  with standard deviation 0.5), the best start kept;
* ``composition_restarts_common``: the same, with only the elements of common ABX3 perovskites
  (``COMMON_PEROVSKITE_ELEMENTS``): does a chemistry the band-gap model knows well survive DFT better?
* ``composition_restarts_single_anion`` and ``composition_restarts_single_anion_common``: the two above with one
  anion on all three X sites (``single_anion``); mixed-anion cells were most of the GPAW misses.
* ``composition_restarts_single_anion_common_hinge``: the single-anion common-element variant with the formation
  energy as a hinge at its success threshold (-0.5 eV/atom) instead of the paper's unbounded minimization, which
  draws every start to the most stable compositions (oxides, fluorides) whatever the gap.
* ``enumeration_single_anion_common``: no optimization. Every single-anion ABX3 of the common elements that the
  optimizer's space holds (each perovskite pattern, each element its sites allow), on a cubic cell sized by
  ionic radii (a = 2 (r_B + r_X)), then judged exactly like the variants. The space is small enough to list:
  its GPAW check is what a search that returns every composition the predictors put on target would get (a
  search can still find other local minima of the same compositions from other starting cells).

For each variant and each target (1.5 and 2.5 eV +- 0.2): 64 perovskite templates (lengths 3.5-5 A), the
paper's success rate on the optimized structures, then every candidate relaxed with M3GNet (FIRE, cell, fmax
0.1, 300 steps) and judged again by the same predictors and criteria (relaxed success). With ``--gpaw-top N``
the N best relaxed candidates per target (successes first, then the smallest gap error) get GPAW-PBE(+U)
(``GpawBackend`` defaults: 600 eV, MP U and moments, band path); confirmed = GPAW gap inside the target range.
The relaxed candidates are saved (``results/variant_candidates/<variant>-<target>.json``), so ``--gpaw-only``
can check them later without optimizing again.

Usage: ``SMOACS_MODEL_DIR=../shared/models/matgl python benchmarks/bench_variants.py [--variants plain
projection] [--targets 1.5] [--gpaw-top 8]``; results in ``benchmarks/results/variants.json`` (merged per
variant and target, so they can be run in separate sessions).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.core import Structure

RESULTS = Path(__file__).resolve().parent / "results"
CANDIDATES = RESULTS / "variant_candidates"
TARGETS = (1.5, 2.5)
MARGIN = 0.2
VARIANTS = (
    "plain", "projection", "composition_only", "stability", "composition_straight_through", "composition_restarts",
    "composition_restarts_common", "composition_restarts_single_anion", "composition_restarts_single_anion_common",
    "composition_restarts_single_anion_common_hinge", "enumeration_single_anion_common",
)
COMMON_PEROVSKITE_ELEMENTS = (  # A: alkali and alkaline-earth; B: the usual 2+ and 4+ cations; X: O and halides
    "Na", "K", "Rb", "Cs", "Ca", "Sr", "Ba",
    "Mg", "Zn", "Cd", "Ti", "Zr", "Hf", "Sn", "Ge", "Pb", "Mn", "Fe", "Co", "Ni", "Cu",
    "O", "F", "Cl", "Br", "I",
)


def variant_config(name: str, centre: float, seed: int):
    from smoacs_core.config import OptimizationConfig, RelaxationProjection, StabilityTerm
    from smoacs_core.targets import PropertyTarget

    overrides: dict = {"seed": seed, "targets": [PropertyTarget.band_gap(centre, MARGIN), PropertyTarget.formation_energy()]}
    if name == "projection":
        overrides["relaxation"] = RelaxationProjection()
    elif name == "composition_only":
        overrides["relaxation"] = RelaxationProjection()
        overrides["learning_rates"] = {"lattice": 0.0, "coords": 0.0}
    elif name.startswith(("composition_straight_through", "composition_restarts", "enumeration")):
        overrides["relaxation"] = RelaxationProjection()
        overrides["learning_rates"] = {"lattice": 0.0, "coords": 0.0, "types": 0.2, "pattern": 0.2}
        overrides.update(straight_through=True, temperature_start=1.0, temperature_end=0.1)
        if name.startswith("composition_restarts"):
            overrides.update(restarts=4, initial_logit_std=0.5)
        if "_common" in name:
            overrides["include_elements"] = list(COMMON_PEROVSKITE_ELEMENTS)
        if "single_anion" in name:
            overrides["single_anion"] = True
        if name.endswith("_hinge"):
            overrides["targets"] = [PropertyTarget.band_gap(centre, MARGIN), PropertyTarget.formation_energy(hinge=True)]
    elif name == "stability":
        overrides["stability"] = StabilityTerm()
    return OptimizationConfig.preset("perovskite", **overrides)


def run_target(
    name: str, centre: float, count: int, seed: int, gpaw_top: int, calculator, predictors_cache,
    gpaw_max_steps: int | None = None, gpaw_root: Path | None = None,
) -> dict:
    """Optimize (or, for ``enumeration_*``, list) the candidates of one variant and target, relax and judge
    them, save them, and GPAW-check the best ``gpaw_top``."""
    from smoacs_core.optimizer import build_vocabulary, optimize
    from smoacs_core.relax.relax import RelaxConfig, relax_structures
    from smoacs_core.relax.survival import evaluate_relaxed, survival_summary
    from smoacs_core.run import load_predictors
    from smoacs_core.settings import SmoacsSettings
    from smoacs_core.templates import perovskite_template, perovskite_templates

    config = variant_config(name, centre, seed)
    key = tuple(sorted(t.predictor for t in config.targets))
    if key not in predictors_cache:
        predictors_cache[key] = load_predictors(config, SmoacsSettings())
    predictors = predictors_cache[key]
    start = time.perf_counter()
    if name.startswith("enumeration"):
        structures = single_anion_perovskites(build_vocabulary(predictors, config))
        templates = [perovskite_template(s, s.composition.reduced_formula) for s in structures]
        timing = {}
    else:
        templates = perovskite_templates(count, length_range=(3.5, 5.0), seed=seed)
        result = optimize(templates, predictors, config, relax_calculator=calculator)
        structures = [c.structure for c in result.crystals]
        optimize_seconds = time.perf_counter() - start
        timing = {"optimize_seconds": optimize_seconds, "seconds_per_step": optimize_seconds / config.steps,
                  "projection_seconds": result.relax_seconds}
    labels = [f"{name}-{centre:g}-{i}" for i in range(len(structures))]
    start = time.perf_counter()
    relaxed = relax_structures(structures, labels, calculator, RelaxConfig())
    relax_seconds = time.perf_counter() - start
    table = evaluate_relaxed(structures, relaxed, templates, predictors, config)
    out = {
        **timing,
        "final_relax_seconds": relax_seconds,
        **survival_summary(table),
        "distinct_successful_formulas": distinct_successes(table["formula"], table["success"]),
    }
    candidates = [
        {"label": label, "formula": row.formula, "success": bool(row.success), "band_gap": float(row.band_gap),
         "structure": None if r.structure is None else r.structure.as_dict()}
        for label, row, r in zip(labels, table.itertuples(index=False), relaxed, strict=True)
    ]
    CANDIDATES.mkdir(parents=True, exist_ok=True)  # the relaxed candidates, for a GPAW check in a later session
    candidates_file(name, centre).write_text(json.dumps(candidates) + "\n")
    if gpaw_top:
        out["gpaw"] = gpaw_check(candidates, centre, gpaw_top, gpaw_max_steps, gpaw_root)
    print(name, centre, json.dumps({k: v for k, v in out.items() if k != "gpaw"}, default=float), flush=True)
    return out


def single_anion_perovskites(vocabulary) -> list[Structure]:
    """Every ABX3 with one anion that the perovskite patterns and ``vocabulary`` allow, in the ideal cubic
    cell with a = 2 (r_B + r_X) (Shannon radii; a starting point, M3GNet relaxes it)."""
    import numpy as np
    from pymatgen.core import Lattice, Species, Structure

    from smoacs_core.perovskite import IDEAL_FRAC_COORDS, PEROVSKITE_PATTERNS
    from smoacs_core.vocabulary import ionic_radius

    structures = []
    for states in PEROVSKITE_PATTERNS:
        a_sites, b_sites, anions = ([vocabulary.symbols[k] for k in np.flatnonzero(vocabulary.mask(s))] for s in states)
        for a, b, x in itertools.product(a_sites, b_sites, anions):
            species = [Species(a, states[0]), Species(b, states[1])] + [Species(x, states[2])] * 3
            length = 2 * (ionic_radius(b, states[1]) + ionic_radius(x, states[2]))
            structures.append(Structure(Lattice.cubic(length), species, IDEAL_FRAC_COORDS))
    return structures


def distinct_successes(formulas, successes) -> int:
    """Different compositions among the relaxed successes: a search that returns one compound for most
    templates has a high rate and little to offer."""
    return len({formula for formula, success in zip(formulas, successes, strict=True) if success})


def candidates_file(name: str, centre: float) -> Path:
    return CANDIDATES / f"{name}-{centre:g}.json"


def best_distinct(candidates: list[dict], centre: float, top: int) -> list[tuple[dict, Structure]]:
    """The ``top`` best relaxed candidates (successes first, then the smallest gap error) with their
    structures, leaving out any that the pipeline's de-duplication matches to a better one: two starts that
    found the same crystal count once."""
    from pymatgen.core import Structure

    from smoacs_core.duplicates import find_duplicates

    usable = [c for c in candidates if c["structure"] is not None]
    ranked = sorted(usable, key=lambda c: (not c["success"], abs(c["band_gap"] - centre)))
    structures = {c["label"]: Structure.from_dict(c["structure"]) for c in ranked}
    duplicate_of = find_duplicates(list(structures.items()))
    return [(c, structures[c["label"]]) for c in ranked if duplicate_of[c["label"]] is None][:top]


def gpaw_check(
    candidates: list[dict], centre: float, top: int, max_steps: int | None = None, root: Path | None = None
) -> dict:
    """GPAW-PBE(+U) relax + gap of the ``best_distinct`` ``top`` candidates; confirmed = GPAW gap inside the
    target range. ``max_steps`` 0: the gap at the M3GNet-relaxed geometry, without a GPAW relaxation.
    ``root``: keep the GPAW folders there; a finished folder is reused, so a stopped check resumes."""
    from vasp_inputs.backend import run_to_completion
    from vasp_inputs.gpaw import GpawSettings
    from vasp_inputs.gpaw.pool import GpawBackend

    settings = GpawSettings() if max_steps is None else GpawSettings(max_steps=max_steps)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for row, structure in best_distinct(candidates, centre, top):  # one at a time, each printed when done
            (result,) = run_to_completion(GpawBackend(settings), {row["label"]: structure}, Path(root or scratch))
            rows.append({"candidate": result.candidate, "formula": row["formula"], "ml_success": row["success"],
                         "ml_gap": row["band_gap"], "status": result.status, "label": result.label,
                         "gpaw_gap": result.band_gap, "seconds": result.seconds, "message": result.message[:200]})
            print(json.dumps(rows[-1]), flush=True)
    done = [r for r in rows if r["status"] == "completed" and r["gpaw_gap"] is not None]
    confirmed = [r for r in done if centre - MARGIN <= r["gpaw_gap"] <= centre + MARGIN]
    return {"top": top, "gpaw_max_steps": settings.max_steps, "completed": len(done), "confirmed": len(confirmed),
            "candidates": rows, "mean_abs_ml_vs_gpaw": (sum(abs(r["gpaw_gap"] - r["ml_gap"]) for r in done) / len(done)) if done else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--targets", nargs="+", type=float, default=list(TARGETS), help="band-gap centres (eV)")
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpaw-top", type=int, default=0, help="GPAW-check the N best per target (0: none).")
    parser.add_argument("--gpaw-only", action="store_true",
                        help="Only the GPAW check, on the candidates an earlier run saved (no optimization).")
    parser.add_argument("--gpaw-max-steps", type=int, default=None,
                        help="GPAW relaxation step limit (0: gap at the M3GNet geometry); default: the backend's")
    parser.add_argument("--gpaw-root", type=Path, default=None,
                        help="Keep the GPAW folders here; finished ones are reused (resume a stopped check).")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (timings are per this many)")
    parser.add_argument("--out", type=Path, default=RESULTS / "variants.json")
    args = parser.parse_args()

    import torch

    from smoacs_core.relax.potentials import ase_calculator

    torch.set_num_threads(args.threads)
    calculator = None if args.gpaw_only else ase_calculator("m3gnet")
    results = json.loads(args.out.read_text()) if args.out.exists() else {"variants": {}}
    results.update({"count": args.count, "seed": args.seed, "margin": MARGIN})
    predictors_cache: dict = {}
    for name in args.variants:
        for centre in args.targets:
            if args.gpaw_only:
                saved = json.loads(candidates_file(name, centre).read_text())
                results["variants"][name][f"{centre:g}"]["gpaw"] = gpaw_check(
                    saved, centre, args.gpaw_top or 8, args.gpaw_max_steps, args.gpaw_root)
            else:
                results["variants"].setdefault(name, {})[f"{centre:g}"] = {
                    "threads": args.threads,
                    **run_target(name, centre, args.count, args.seed, args.gpaw_top, calculator, predictors_cache,
                                 args.gpaw_max_steps, args.gpaw_root),
                }
            args.out.parent.mkdir(parents=True, exist_ok=True)  # after each target: a crash keeps the others
            args.out.write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
