"""GPAW throughput of the local pool: candidates per hour, one candidate at a time against one per core.

The candidates are what a DFT round of the pipeline checks: the first ``--count`` GPAW-checked candidates of the
variant benchmark (M3GNet-relaxed perovskites from ``results/variant_candidates/``, all distinct). Each goes
through ``GpawBackend`` with the pipeline's settings except ``--max-steps`` (default 0: the gap at the
M3GNet-relaxed geometry, as the pipeline test does; the relaxation's cost per step is in ``bench_gpaw.py``).
Both modes run the same candidates in fresh folders, one mode after the other; nothing else should run
beside them.

Usage: ``python benchmarks/bench_gpaw_throughput.py [--count 4]``; results in
``benchmarks/results/gpaw_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from bench_second_opinion import gpaw_checked  # the sibling scripts: the GPAW-checked candidates
from bench_variants import RESULTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "gpaw_throughput.json")
    args = parser.parse_args()

    from pymatgen.core import Structure

    from vasp_inputs.backend import run_to_completion
    from vasp_inputs.gpaw import GpawSettings
    from vasp_inputs.gpaw.pool import GpawBackend

    benchmark = json.loads((RESULTS / "variants.json").read_text())
    rows = gpaw_checked(benchmark["variants"], benchmark["margin"])[: args.count]
    structures = {f"{row['formula']}-{n}": Structure.from_dict(row["structure"]) for n, row in enumerate(rows)}
    results: dict = {"gpaw": version("gpaw"), "cpus": os.cpu_count(), "max_steps": args.max_steps,
                     "candidates": list(structures), "modes": {}}
    for parallel in (1, os.cpu_count() or 1):
        settings = GpawSettings(max_steps=args.max_steps, parallel_candidates=parallel)
        with tempfile.TemporaryDirectory(prefix="gpaw_throughput_") as root:
            start = time.perf_counter()
            outcome = run_to_completion(GpawBackend(settings), structures, Path(root))
            seconds = time.perf_counter() - start
        results["modes"][f"{parallel}_at_once"] = {
            "seconds": seconds, "candidates_per_hour": 3600 * len(structures) / seconds,
            "statuses": {r.candidate: r.status for r in outcome},
            "gaps": {r.candidate: r.band_gap for r in outcome},
            "seconds_per_candidate": {r.candidate: r.seconds for r in outcome},
        }
        print(json.dumps({f"{parallel}_at_once": results["modes"][f"{parallel}_at_once"]}, indent=1), flush=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
