"""Which density mixer should GPAW use for spin-polarized cells? (issue 15: the CsFeF3 check took 1885 s.)

Each magnetic perovskite below (GPAW-checked candidates from benchmarks/results/gpaw_labels.json, at the geometry
they were checked at) gets the project's band-gap calculation (``band_gap_of``: PBE(+U) at MP's static k-density,
MP's moments and U, then the band path) once per mixer; recorded per run: SCF iterations, seconds, energy, gap,
magnetic moment. GPAW 26 mixes total density and magnetization; its default is MSR1 (beta 0.05, 10 old densities,
metric weight 20). The choices are GPAW's own alternatives: Pulay, a gentler MSR1 (beta 0.02, weight 100, the
convergence page's advice for hard cases) and separate mixers for charge and magnetization.

One GPAW process with one BLAS thread, candidates one after another; results are written to
``benchmarks/results/gpaw_mixer.json`` after every run and a rerun skips what is there (resume, never restart).
SCF limit: ``--maxiter`` iterations (a run that needs more is recorded as not converged).

Usage: ``python benchmarks/bench_gpaw_mixer.py [--candidates plain-2.5-62 ...] [--mixers default pulay ...]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench_variants import RESULTS  # noqa: E402
from pymatgen.core import Structure  # noqa: E402

from vasp_inputs.gpaw.jobs import SCF_LOG, band_gap_of  # noqa: E402
from vasp_inputs.gpaw.settings import GpawSettings  # noqa: E402

CANDIDATES = {
    "plain-2.5-62": "CsFeF3, the 1885 s check",
    "projection-2.5-43": "RbFeF3",
    "plain-1.5-49": "KCoClF2",
    "plain-2.5-61": "RbMnCl3",
}
MIXERS: dict[str, dict | None] = {
    "default": None,
    "pulay": {"name": "pulay"},
    "msr1-gentle": {"name": "msr1", "beta": 0.02, "weight": 100.0},
    "separate-magnetization": {"name": "multi", "mixer_a": "msr1", "mixer_b": {"name": "msr1", "beta": 0.02}},
}


def scf_iterations(log: Path) -> int:
    """SCF iterations GPAW logged (its table rows start with '|iter:')."""
    return sum(line.startswith("|iter:") for line in log.read_text().splitlines())


def run_one(structure: Structure, mixer: dict | None, maxiter: int, directory: Path) -> dict:
    settings = GpawSettings(max_steps=0, spin_mixer=mixer, scf_maxiter=maxiter)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    start = time.perf_counter()
    try:
        document = band_gap_of(structure, settings, directory)
    except Exception as error:  # GPAW's KohnShamConvergenceError after maxiter, or a breakdown
        return {"status": "failed", "error": f"{type(error).__name__}: {error}",
                "seconds": time.perf_counter() - start, "scf_iterations": scf_iterations(directory / SCF_LOG)}
    return {"status": "completed", "seconds": time.perf_counter() - start,
            "scf_iterations": scf_iterations(directory / SCF_LOG), "band_gap": document.edges.band_gap,
            "energy_per_atom": document.energy_per_atom, "magnetic_moment": document.magnetic_moment,
            "functional": document.functional}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--mixers", nargs="+", default=list(MIXERS), choices=list(MIXERS))
    parser.add_argument("--maxiter", type=int, default=200)
    parser.add_argument("--work-dir", type=Path, default=RESULTS / "gpaw_mixer_runs")
    args = parser.parse_args()
    labels = {label["name"]: label for label in json.loads((RESULTS / "gpaw_labels.json").read_text())["labels"]}
    output = RESULTS / "gpaw_mixer.json"
    summary = json.loads(output.read_text()) if output.exists() else {
        "what": __doc__.splitlines()[0], "maxiter": args.maxiter, "mixers": MIXERS, "runs": {}}
    for name in args.candidates:
        structure = Structure.from_dict(labels[name]["structure"])
        for mixer in args.mixers:
            key = f"{name}/{mixer}"
            if key in summary["runs"]:
                continue
            result = run_one(structure, MIXERS[mixer], args.maxiter, args.work_dir / name / mixer)
            summary["runs"][key] = {"candidate": name, "formula": structure.composition.reduced_formula,
                                    "mixer": mixer, **result}
            output.write_text(json.dumps(summary, indent=1))
            print(key, {k: result.get(k) for k in ("status", "scf_iterations", "seconds", "band_gap")}, flush=True)


if __name__ == "__main__":
    main()
