"""GPAW benchmark: wall time per 5-atom perovskite relaxation + band gap on this machine (serial GPAW, 1 BLAS thread).

Each perovskite starts from its cubic cell stretched by ``--strain`` (isotropic, default 2%) and goes through
``GpawBackend`` (submit, then harvest until done): GPAW-PBE(+U) relaxation with the cell (BFGS, fmax 0.05 eV/A), then SCF and non-self-consistent
bands along the band path. Settings are the backend's defaults (600 eV, MP's k-point densities, U and
spin-polarized initial moments) unless overridden. Every run starts in a fresh folder: a reused result would
time nothing.

Usage: ``python benchmarks/bench_gpaw.py [--structures SrTiO3 KZnF3] [--spin mp]``; results in
``benchmarks/results/gpaw.json`` (or ``--out``). A quick check: ``--structures KZnF3 --ecut 300 --max-steps 2
--out /tmp/gpaw.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PEROVSKITES = {  # cubic Pm-3m, A at the corner, B at the centre, X on the face centres; experimental a (A)
    "SrTiO3": ("Sr", "Ti", "O", 3.905),
    "KZnF3": ("K", "Zn", "F", 4.055),
    "KMnF3": ("K", "Mn", "F", 4.19),
    "BaTiO3": ("Ba", "Ti", "O", 4.00),
}


def perovskite(name: str, strain: float):
    from pymatgen.core import Lattice, Structure

    a, b, x, length = PEROVSKITES[name]
    sites = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Structure(Lattice.cubic(length * (1 + strain)), [a, b, x, x, x], sites)


def scf_runs(log: Path) -> int | None:
    """Self-consistent runs GPAW wrote to a log (one per energy/force evaluation)."""
    return log.read_text().count("Free energy:") if log.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", nargs="+", default=["SrTiO3", "KZnF3"], choices=sorted(PEROVSKITES))
    parser.add_argument("--strain", type=float, default=0.02, help="isotropic strain of the starting cell")
    parser.add_argument("--spin", default="mp", choices=["mp", "magnetic", "off"])
    parser.add_argument("--ecut", type=float, default=None, help="plane-wave cutoff (eV); default 600")
    parser.add_argument("--max-steps", type=int, default=None, help="relaxation step limit; default 50")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the GPAW folders here (new folder)")
    parser.add_argument("--out", type=Path, default=RESULTS / "gpaw.json")
    args = parser.parse_args()

    from vasp_inputs.backend import run_to_completion
    from vasp_inputs.gpaw import GpawSettings
    from vasp_inputs.gpaw.pool import GpawBackend

    overrides = {"spin": args.spin}
    if args.ecut is not None:
        overrides["ecut"] = args.ecut
    if args.max_steps is not None:
        overrides["max_steps"] = args.max_steps
    settings = GpawSettings(**overrides)
    if args.work_dir is not None and args.work_dir.exists() and any(args.work_dir.iterdir()):
        parser.error(f"--work-dir {args.work_dir} is not empty: earlier results would be reused, not timed")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_gpaw_"))
    results: dict = {
        "what": "GPAW-PBE(+U) relaxation + band gap per 5-atom perovskite, serial GPAW, 1 BLAS thread",
        "gpaw": version("gpaw"),
        "cpus": os.cpu_count(),
        "strain": args.strain,
        "settings": settings.model_dump(),
        "work_dir": str(work),
        "structures": {},
    }
    for name in args.structures:
        load_before = os.getloadavg()[0]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        (result,) = run_to_completion(GpawBackend(settings), {name: perovskite(name, args.strain)}, work)
        seconds = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        folder = Path(result.directory)
        results["structures"][name] = {
            "label": result.label,
            "status": result.status,
            "seconds": seconds,
            # CPU time of the worker process: less sensitive than wall time to other load on the machine
            "cpu_seconds": (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
            "scf_runs_in_relaxation": scf_runs(folder / "relax.txt"),
            "band_gap": result.band_gap,
            "is_gap_direct": result.is_gap_direct,
            "lattice_a": result.structure.lattice.a if result.structure is not None else None,
            "energy_per_atom": result.energy_per_atom,
            "message": result.message,
        }
        print(name, json.dumps(results["structures"][name]), flush=True)
        done = [entry["seconds"] for entry in results["structures"].values() if entry["status"] == "completed"]
        results["mean_seconds_per_structure"] = sum(done) / len(done) if done else None
        args.out.parent.mkdir(parents=True, exist_ok=True)  # written after each structure: a crash keeps the rest
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
