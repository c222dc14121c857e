"""Hull reference benchmark: a default run's candidates against the old and the new local reference.

The old default local reference held the 1,112 MP-20 rows of the shared data, the Materials Project elemental
references and the V-O task documents (``HullConfig(dataset="mp20", task_documents=True)``); the new default
holds the lowest formation energy of each reduced formula of Matbench's 132,752 Materials Project formulas
(``HullConfig()``). Both place the same candidates (the hull stage's: the judged stage's structures and
MEGNet's formation energy) with ``place_on_hull``; reported per reference: build time as the hull stage
builds it (for the candidates' chemical systems) and for every system, compounds, candidates on the hull,
implausibly far below it, with an incomplete reference, and each candidate's energy above hull.

Usage, after a default run (``smoacs run`` in DIR; the results store is DIR/results/smoacs.sqlite), with
SMOACS_DATA_DIR=../shared/data:
``python benchmarks/bench_hull_reference.py --store DIR/results/smoacs.sqlite``;
or again on the candidates an earlier result file recorded, without a run:
``python benchmarks/bench_hull_reference.py --candidates benchmarks/results/hull_reference.json``.
Results in ``benchmarks/results/hull_reference.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCES = {
    "old": {"dataset": "mp20", "task_documents": True},
    "new": {},
}
"""HullConfig fields of each reference compared: the old default and today's default."""


def stored_candidates(store_path: Path, run_name: str | None) -> tuple[dict, list[dict]]:
    """The run's candidates as the hull stage reads them: the judged stage's structures and E_f."""
    from flows.config import DiscoveryConfig
    from smoacs_core.stages import judged_stage
    from smoacs_core.store import ResultsStore

    store = ResultsStore(f"sqlite:///{store_path.resolve()}")
    runs = store.runs()
    if run_name is not None:
        runs = runs[runs["name"] == run_name]
    if runs.empty:
        raise SystemExit(f"{store_path}: no run{f' named {run_name}' if run_name else ''}")
    run_id = runs.iloc[0]["run_id"]
    config = DiscoveryConfig.model_validate(store.run(run_id).config)
    stage = judged_stage(config.stages)
    table = store.candidates(run_id)
    structures = store.structures(table["id"], stage)
    energies = dict(zip(table["id"], table[f"{stage}.formation_energy"], strict=True))
    run = {"run_id": run_id, "name": config.name, "stage": str(stage), "candidates_in_run": len(table)}
    candidates = [
        {"id": i, "formula": structures[i].composition.formula, "formation_energy": float(energies[i])}
        for i in table["id"]
        if i in structures
    ]
    return run, candidates


def formula_overlap(mp20, matbench) -> dict:
    """MP-20's compounds beside Matbench's lowest energy of the same reduced formula (eV/atom): why the two
    are not mixed into one reference."""
    differences, absent = [], []
    for system in mp20.systems:
        known = {entry.name: entry.energy_per_atom for entry in matbench.compounds_of(system)}
        for entry in mp20.compounds_of(system):
            if entry.name in known:
                differences.append(entry.energy_per_atom - known[entry.name])
            else:
                absent.append(entry.name)
    return {
        "mp20_compounds": len(differences) + len(absent),
        "absent_from_matbench": sorted(absent),
        "in_both": len(differences),
        "mp20_lower_by_more_than_20_meV": sum(d < -0.02 for d in differences),
        "mp20_higher_by_more_than_20_meV": sum(d > 0.02 for d in differences),
        "median_difference": statistics.median(differences),
        "min_difference": min(differences),
        "max_difference": max(differences),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--store", type=Path, help="SQLite results store of a default run")
    given.add_argument("--candidates", type=Path, help="an earlier hull_reference.json: its candidates")
    parser.add_argument("--run", help="run name in the store (default: the newest run)")
    args = parser.parse_args()

    if args.store is not None:
        run, candidates = stored_candidates(args.store, args.run)
    else:
        earlier = json.loads(args.candidates.read_text())
        run, candidates = earlier["run"], earlier["candidates"]

    from pymatgen.core import Composition

    from smoacs_core.hull.config import HullConfig
    from smoacs_core.hull.placement import place_on_hull
    from smoacs_core.hull.reference import load_reference

    logging.getLogger("smoacs_core.hull.placement").setLevel(logging.ERROR)  # incomplete systems: in the file
    placed_input = [(c["id"], Composition(c["formula"]), c["formation_energy"]) for c in candidates]
    systems = {frozenset(el.symbol for el in composition.elements) for _, composition, _ in placed_input}
    start = time.perf_counter()
    load_reference(HullConfig(**REFERENCES["old"]))  # one-time imports (pymatgen's corrections, readers)
    first_build = round(time.perf_counter() - start, 2)
    results: dict = {"run": run, "candidates": candidates, "first_build_in_process_seconds": first_build,
                     "load_average_1min": round(os.getloadavg()[0], 2), "references": {}}
    every = {}
    for label, fields in REFERENCES.items():
        config = HullConfig(**fields)
        start = time.perf_counter()
        reference = load_reference(config, systems=systems)
        build = time.perf_counter() - start
        start = time.perf_counter()
        every[label] = load_reference(config)
        build_every_system = time.perf_counter() - start
        start = time.perf_counter()
        placed = place_on_hull(placed_input, reference, config)
        placing = time.perf_counter() - start
        info = reference.info()
        results["references"][label] = {
            "config": config.model_dump(mode="json"),
            "description": info.description,
            "corrections": info.corrections,
            "notes": info.notes,
            "n_compounds": info.n_compounds,
            "n_compounds_every_system": every[label].n_compounds,
            "build_seconds": round(build, 2),
            "build_seconds_every_system": round(build_every_system, 2),
            "placement_seconds": round(placing, 2),
            "placed": sum(r.e_above_hull is not None for r in placed),
            "on_hull": sum(bool(r.on_hull) for r in placed),
            "implausibly_stable": sum(r.implausibly_stable for r in placed),
            "incomplete_reference": sum(not r.completeness.complete for r in placed),
            "median_e_above_hull": statistics.median(r.e_above_hull for r in placed if r.on_hull is not None),
            "results": [
                {
                    "id": r.id,
                    "formula": r.formula,
                    "e_above_hull": r.e_above_hull,
                    "on_hull": r.on_hull,
                    "implausibly_stable": r.implausibly_stable,
                    "decomposition": " + ".join(f"{p.fraction:.3f} {p.formula}" for p in r.decomposition),
                    "n_competing_phases": r.completeness.n_competing_phases,
                    "missing_subsystems": r.completeness.missing_subsystems,
                }
                for r in placed
            ],
        }
        summary = results["references"][label]
        print(f"{label}: {summary['on_hull']} of {summary['placed']} on the hull, "
              f"{summary['implausibly_stable']} implausibly stable, build {build:.2f} s ({info.description})")
    mp20_only = load_reference(HullConfig(dataset="mp20"))
    results["mp20_against_matbench"] = formula_overlap(mp20_only, every["new"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hull_reference.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
