"""One GPAW step each: a relaxation (atomate2's ASE relax maker with GPAW as its calculator) and a band gap.

Both makers carry only ``GpawSettings``; the GPAW parameters (k-mesh, U, moments) depend on the structure, so
they are built when the job runs, from the structure it actually receives (for the gap job: the relaxed one).
A step that fails returns a ``GpawFailure`` as its output instead of raising, and stops the jobs after it, so
the failure and its reason stay in the job store like any other result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from atomate2.ase.jobs import AseRelaxMaker
from atomate2.ase.schemas import AseResult, AseStructureTaskDoc
from atomate2.ase.utils import AseRelaxer
from emmet.core.types.enums import TaskState
from jobflow import Maker, Response, job
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from vasp_inputs.gpaw.bandgap import BandEdges, band_edges, occupied_bands
from vasp_inputs.gpaw.calculator import gpaw_calculator, gpaw_parameters, kpoint_mesh, physics_for
from vasp_inputs.gpaw.pulay import PulayCorrectedCellFilter, measure_dedecut, pulay_energy
from vasp_inputs.gpaw.settings import BandGapMethod, GpawSettings
from vasp_inputs.gpaw.symmetry import snap_to_symmetry

GpawStep = Literal["relax", "band gap"]
RELAX_LOG, PULAY_LOG, SCF_LOG, BANDS_LOG = "relax.txt", "pulay.txt", "scf.txt", "bands.txt"
BANDSTRUCTURE_FILE = "bandstructure.json"
FALLBACK_NOTE = "eigensolver fallback"
_OTHER_EIGENSOLVER = {"davidson": "ppcg", "ppcg": "davidson"}
_Output = TypeVar("_Output")


def with_eigensolver_fallback(
    step: GpawStep, settings: GpawSettings, run: Callable[[GpawSettings], _Output]
) -> tuple[_Output, str | None]:
    """``run(settings)``; if its eigensolver breaks down, once more with GPAW's other plane-wave eigensolver.

    Davidson and PPCG break down on different cells (a subspace matrix that is not positive definite, numpy's
    LinAlgError): Davidson once on 2 %-strained KZnF3, where PPCG converged; PPCG on spin-polarized bcc Cr,
    where Davidson converges. Returns the output and, after a fallback, a note saying what happened.
    """
    try:
        return run(settings), None
    except np.linalg.LinAlgError as error:
        other = _OTHER_EIGENSOLVER[settings.eigensolver]
        output = run(settings.model_copy(update={"eigensolver": other}))
        return output, f"{FALLBACK_NOTE}: {step} rerun with {other}, {settings.eigensolver} failed ({error})"


class GpawFailure(BaseModel):
    """What a failed GPAW step leaves in the job store instead of its result."""

    model_config = ConfigDict(frozen=True)

    step: GpawStep
    error: str = Field(description="Exception class, e.g. KohnShamConvergenceError.")
    message: str

    @classmethod
    def from_exception(
        cls, step: GpawStep, error: Exception, settings: GpawSettings, log: str
    ) -> GpawFailure:
        from gpaw import KohnShamConvergenceError

        if isinstance(error, KohnShamConvergenceError):
            detail = f"GPAW SCF did not converge within {settings.scf_maxiter} iterations"
        else:
            detail = str(error) or "no message"
        return cls(step=step, error=type(error).__name__, message=f"{step}: {detail} (see {log})")


class GpawBandGapDoc(BaseModel):
    """Self-consistent energy and band gap of one structure."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    structure: Structure
    functional: str = Field(description="'PBE' or 'PBE+U'.")
    hubbard_u: dict[str, float] = Field(description="U (eV) per element, as MPRelaxSet sets it.")
    energy: float = Field(description="GPAW total energy (eV), relative to GPAW's atomic reference energies.")
    energy_per_atom: float
    magnetic_moment: float | None = Field(description="Total moment (muB); None when not spin-polarized.")
    fermi_level: float = Field(description="eV, from the self-consistent run.")
    kpoint_mesh: tuple[int, int, int] = Field(description="Gamma-centred mesh of the self-consistent run.")
    method: BandGapMethod
    band_kpoints: int = Field(description="k-points of the non-self-consistent run (0 for a metal: not run).")
    edges: BandEdges
    eigensolver: str = Field(description="The eigensolver the numbers come from.")
    notes: list[str] = Field(default_factory=list, description="E.g. an eigensolver fallback.")
    seconds: float


def _eigenvalues(calc) -> np.ndarray:
    """Eigenvalues ``[spin, k, band]`` (eV) of a GPAW calculator over its irreducible k-points."""
    n_k = len(calc.get_ibz_k_points())
    return np.array([[calc.get_eigenvalues(kpt=k, spin=s) for k in range(n_k)]
                     for s in range(calc.get_number_of_spins())])


def band_gap_of(structure: Structure, settings: GpawSettings, directory: Path) -> GpawBandGapDoc:
    """Self-consistent run at MP's static k-density, then bands on a path or a dense mesh, then the gap."""
    start = time.perf_counter()
    # site properties of a previous run (final moments, forces) must not leak into MP's MAGMOM logic
    structure = snap_to_symmetry(structure)
    parameters = gpaw_parameters(structure, settings, reciprocal_density=settings.static_reciprocal_density,
                                 txt=directory / SCF_LOG)
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = gpaw_calculator(parameters)
    energy = float(atoms.get_potential_energy())
    calc = atoms.calc
    fermi_level = float(calc.get_fermi_level())
    scf_eigenvalues = _eigenvalues(calc)
    scf_kpoints = calc.get_ibz_k_points()
    occupied = occupied_bands(scf_eigenvalues, fermi_level)
    band_kpoints = 0
    if occupied is None:  # a metal on the self-consistent mesh already: no gap to look for
        edges = band_edges(scf_eigenvalues, fermi_level, scf_eigenvalues, scf_kpoints)
    else:
        nbands = max(occupied) + settings.extra_bands
        if settings.band_gap_method == "bandpath":
            path = atoms.cell.bandpath(npoints=settings.bandpath_npoints, pbc=atoms.pbc)
            kpts, symmetry = path, "off"
        else:
            kpts = {"size": list(kpoint_mesh(structure, settings.mesh_reciprocal_density)), "gamma": True}
            symmetry = {}
        bands = calc.fixed_density(kpts=kpts, symmetry=symmetry, nbands=nbands,
                                   convergence={"bands": max(occupied) + 2,
                                                "eigenstates": settings.bands_tolerance},
                                   txt=str(directory / BANDS_LOG))
        band_eigenvalues = _eigenvalues(bands)
        band_kpoints_frac = bands.get_ibz_k_points()
        band_kpoints = len(band_kpoints_frac)
        if settings.band_gap_method == "bandpath":
            from ase.spectrum.band_structure import BandStructure

            BandStructure(path, band_eigenvalues, reference=fermi_level).write(directory / BANDSTRUCTURE_FILE)
        n = min(scf_eigenvalues.shape[2], band_eigenvalues.shape[2])
        edges = band_edges(
            scf_eigenvalues, fermi_level,
            np.concatenate([scf_eigenvalues[:, :, :n], band_eigenvalues[:, :, :n]], axis=1),
            np.concatenate([scf_kpoints, band_kpoints_frac]),
        )
    spin_polarized = calc.get_number_of_spins() == 2
    physics = physics_for(structure, settings)
    return GpawBandGapDoc(
        structure=structure,
        functional=physics.functional,
        hubbard_u=physics.hubbard_u,
        energy=energy,
        energy_per_atom=energy / len(structure),
        magnetic_moment=float(calc.get_magnetic_moment()) if spin_polarized else None,
        fermi_level=fermi_level,
        kpoint_mesh=tuple(parameters["kpts"]["size"]),
        method=settings.band_gap_method,
        band_kpoints=band_kpoints,
        edges=edges,
        eigensolver=settings.eigensolver,
        seconds=time.perf_counter() - start,
    )


@dataclass
class GpawRelaxMaker(AseRelaxMaker):
    """atomate2's ASE relaxation with GPAW (plane-wave PBE(+U), MP's U and moments) as the calculator.

    Set everything through ``settings``: the inherited ``steps``, ``relax_cell``, ``relax_kwargs``,
    ``optimizer_kwargs`` and ``calculator_kwargs`` are derived from it (the last one per structure, when the
    job runs), so the maker has one source of truth. With the cell relaxed, the stress is corrected for the
    finite cutoff's Pulay stress (dE/decut measured first, see ``pulay.py``; the value is in the task's tags).
    """

    name: str = "GPAW relaxation"
    settings: GpawSettings = field(default_factory=GpawSettings)

    def __post_init__(self) -> None:
        self.steps = self.settings.max_steps
        self.relax_cell = self.settings.relax_cell
        self.relax_kwargs = {"fmax": self.settings.fmax, "final_atoms_object_file": None}
        self.optimizer_kwargs = {"optimizer": self.settings.optimizer}
        super().__post_init__()
        self._pulay_energy = 0.0
        self._log = PULAY_LOG

    def _get_calculator(self):
        if not self.calculator_kwargs:
            raise ValueError("GPAW parameters depend on the structure: they are built when make() runs")
        return gpaw_calculator(self.calculator_kwargs)

    @job(data=["trajectory"])
    def make(
        self, structure: Structure, prev_dir: str | Path | None = None
    ) -> AseStructureTaskDoc | GpawFailure:
        """Relax ``structure``; a GPAW error or an unconverged relaxation stops the jobs after this one."""
        try:
            doc, note = with_eigensolver_fallback(
                "relax", self.settings, lambda settings: self._relax(structure, settings, prev_dir))
        except Exception as error:  # noqa: BLE001 -- GPAW can fail anywhere on a bad geometry
            return Response(output=GpawFailure.from_exception("relax", error, self.settings, self._log),
                            stop_children=True)
        if note is not None:
            doc.tags = [*(doc.tags or []), note]
        if doc.state != TaskState.SUCCESS and not self.settings.accept_unconverged_relaxation:
            return Response(output=doc, stop_children=True)
        return doc

    def _relax(self, structure: Structure, settings: GpawSettings, prev_dir: str | Path | None) -> AseStructureTaskDoc:
        """atomate2's relaxation job body with ``settings`` (the Pulay stress first, when the cell relaxes)."""
        self._pulay_energy = 0.0
        self.tags = []
        self._log = PULAY_LOG  # the log of the stage running, for the failure message
        structure = snap_to_symmetry(structure)
        if settings.pulay_correction and self.relax_cell and self.steps > 1:
            dedecut = measure_dedecut(structure, settings, Path.cwd() / PULAY_LOG)
            self._pulay_energy = pulay_energy(dedecut, settings.ecut)
            self.tags = [f"dE/decut {dedecut:.6f}", f"Pulay stress {self._pulay_energy:.5f} eV / V"]
        self._log = RELAX_LOG
        self.calculator_kwargs = gpaw_parameters(structure, settings, reciprocal_density=settings.reciprocal_density,
                                                 txt=Path.cwd() / RELAX_LOG)
        self._calculator = None
        return AseRelaxMaker.make.original(self, structure, prev_dir)

    def run_ase(self, mol_or_struct: Structure, prev_dir: str | Path | None = None) -> AseResult:
        """atomate2's relaxation, with the Pulay-corrected cell filter in place of the plain Frechet one."""
        relaxer = AseRelaxer(self.calculator, relax_cell=self.relax_cell, relax_shape=self.relax_shape,
                             fix_symmetry=self.fix_symmetry, symprec=self.symprec, **self.optimizer_kwargs)
        return relaxer.relax(mol_or_struct, steps=self.steps, cell_filter=PulayCorrectedCellFilter,
                             filter_kwargs={"pulay_energy": self._pulay_energy}, **self.relax_kwargs)


@dataclass
class GpawBandGapMaker(Maker):
    """Energy and band gap of a (relaxed) structure: SCF at MP's static density, then band path or mesh."""

    name: str = "GPAW band gap"
    settings: GpawSettings = field(default_factory=GpawSettings)

    @job
    def make(self, structure: Structure) -> GpawBandGapDoc | GpawFailure:
        try:
            doc, note = with_eigensolver_fallback(
                "band gap", self.settings, lambda settings: band_gap_of(structure, settings, Path.cwd()))
        except Exception as error:  # noqa: BLE001 -- the failure is this job's output
            return GpawFailure.from_exception("band gap", error, self.settings, f"{SCF_LOG}, {BANDS_LOG}")
        return doc if note is None else doc.model_copy(update={"notes": [*doc.notes, note]})
