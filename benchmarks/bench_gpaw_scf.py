"""How should GPAW's SCF run on spin-polarized cells? (issue 15: the CsFeF3 check took 1885 s.)

Each magnetic perovskite below (GPAW-checked candidates from benchmarks/results/gpaw_labels.json, at the geometry
they were checked at) gets the project's band-gap calculation (``band_gap_of``: PBE(+U) at MP's static k-density,
MP's moments and U, then the band path) once per SCF variant; recorded per run: SCF iterations, seconds, energy,
gap, magnetic moment. GPAW 26 mixes total density and magnetization with MSR1 (beta 0.05) by default and
converges energy, density and eigenstates (4e-8 eV^2 per valence electron). The variants: GPAW's Pulay mixer, a
gentler MSR1 (beta 0.02, weight 100: GPAW's advice for hard cases), separate mixers for charge and magnetization,
and the eigenstate tolerance loosened to that of the band-path step (1e-5, where KZnF3's gap did not move) or
1e-6.

One GPAW process with one BLAS thread, runs one after another (start one process per core with disjoint
``--variants`` to use both); results are merged into ``benchmarks/results/gpaw_scf.json`` after every run and a
rerun skips what is there (resume, never restart). SCF limit: ``--maxiter`` iterations (a run that needs more is
recorded as failed, with its iterations and time).

Usage: ``python benchmarks/bench_gpaw_scf.py [--candidates plain-2.5-62 ...] [--variants default ...]``
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
VARIANTS: dict[str, dict] = {
    "default": {"spin_mixer": None},
    "pulay": {"spin_mixer": {"name": "pulay"}},
    "msr1-gentle": {"spin_mixer": {"name": "msr1", "beta": 0.02, "weight": 100.0}},
    "separate-magnetization": {"spin_mixer": {"name": "multi", "mixer_a": "msr1",
                                              "mixer_b": {"name": "msr1", "beta": 0.02}}},
    "eigenstates-1e-5": {"spin_mixer": None, "scf_eigenstates_tolerance": 1e-5},
    "eigenstates-1e-6": {"spin_mixer": None, "scf_eigenstates_tolerance": 1e-6},
    "default-333": {"spin_mixer": None, "scf_maxiter": 333},
}
"""GpawSettings changes of each variant (the rest: the project's defaults, ``max_steps`` 0, ``--maxiter``).
'default' is GPAW's own SCF (no spin_mixer, GPAW's eigenstate tolerance); 'default-333' lets it run to GPAW's
iteration limit, as the 1885 s check of CsFeF3 did."""


def scf_iterations(log: Path) -> int:
    """SCF iterations GPAW logged (its table rows start with '|iter:')."""
    return sum(line.startswith("|iter:") for line in log.read_text().splitlines())


def run_one(structure: Structure, changes: dict, maxiter: int, directory: Path) -> dict:
    settings = GpawSettings(**{"max_steps": 0, "scf_maxiter": maxiter, **changes})
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
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--maxiter", type=int, default=120)
    parser.add_argument("--work-dir", type=Path, default=RESULTS / "gpaw_scf_runs")
    args = parser.parse_args()
    labels = {label["name"]: label for label in json.loads((RESULTS / "gpaw_labels.json").read_text())["labels"]}
    output = RESULTS / "gpaw_scf.json"
    summary = json.loads(output.read_text()) if output.exists() else {
        "what": __doc__.splitlines()[0], "maxiter": args.maxiter, "variants": VARIANTS, "runs": {}}
    for name in args.candidates:
        structure = Structure.from_dict(labels[name]["structure"])
        for variant in args.variants:
            key = f"{name}/{variant}"
            if key in summary["runs"]:
                continue
            result = run_one(structure, VARIANTS[variant], args.maxiter, args.work_dir / name / variant)
            if output.exists():  # another process of this script may have added runs meanwhile
                summary["runs"] = {**json.loads(output.read_text())["runs"], **summary["runs"]}
            summary["runs"][key] = {"candidate": name, "formula": structure.composition.reduced_formula,
                                    "variant": variant, **result}
            output.write_text(json.dumps(summary, indent=1))
            print(key, {k: result.get(k) for k in ("status", "scf_iterations", "seconds", "band_gap")}, flush=True)


if __name__ == "__main__":
    main()
