"""What a GPAW calculation of one candidate is set up with: DFT physics, relaxation, band gap.

The physics follows the Materials Project relaxation input set (MPRelaxSet) where GPAW can, so that GPAW
gaps are comparable with the PBE(+U) data the predictors were trained on: spin polarization with the input
set's initial moments, Hubbard U for the same elements and anion classes (read from pymatgen, see ``mp.py``),
Gamma-centred k-point meshes from the same reciprocal densities, Fermi smearing of MP's SIGMA. Where GPAW
differs from VASP (PAW setups instead of POTCARs, the plane-wave cutoff scale, how U is projected) the
defaults are chosen for converged GPAW numbers, not copied from the INCAR.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SpinPolarization = Literal["mp", "magnetic", "off"]
BandGapMethod = Literal["bandpath", "mesh"]


class GpawSettings(BaseModel):
    """DFT, relaxation, band-gap and run settings for the GPAW backend (plane-wave PBE through ASE)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- DFT physics ---------------------------------------------------------------------------------
    ecut: float = Field(
        default=600.0, gt=0,
        description="Plane-wave cutoff (eV). GPAW's total energy of SrTiO3 is not converged at 400 eV "
                    "(it shifts ~5 eV up to 600-800 eV); gaps converge earlier.",
    )
    reciprocal_density: float = Field(
        default=64.0, gt=0,
        description="k-points per A^-3 of reciprocal volume for the relaxation: MPRelaxSet's value, "
                    "made a Gamma-centred mesh by pymatgen's Kpoints.automatic_density_by_vol.",
    )
    static_reciprocal_density: float = Field(
        default=100.0, gt=0,
        description="k-point density of the self-consistent run on the relaxed structure that the energy "
                    "and the band gap come from (MPStaticSet's value).",
    )
    smearing_width: float = Field(default=0.05, gt=0, description="Fermi-Dirac width (eV); MP: SIGMA 0.05.")
    spin: SpinPolarization = Field(
        default="mp",
        description="'mp': always spin-polarized with MPRelaxSet's initial moments (ISPIN 2, MAGMOM, "
                    "0.6 muB for elements it does not list), as MP ran. 'magnetic': spin-polarized only "
                    "when an element MPRelaxSet lists in MAGMOM is present; halves the cost of closed-shell "
                    "compounds (SrTiO3: same lattice and gap in half the time). 'off': never.",
    )
    hubbard_u: bool = Field(
        default=True,
        description="Apply MPRelaxSet's Hubbard U (Dudarev, on d states) to the same elements and anion "
                    "classes (oxides, fluorides); results are then labelled PBE+U.",
    )
    eigensolver: Literal["davidson", "ppcg"] = Field(
        default="davidson",
        description="Plane-wave eigensolver. GPAW 26's implicit default (PPCG) stopped with a LinAlgError "
                    "on spin-polarized bcc Cr, where Davidson converged; it was no faster elsewhere. A step "
                    "whose eigensolver breaks down is rerun once with the other one (jobs.py).",
    )
    spin_mixer: dict[str, Any] | None = Field(
        default=None,
        description="GPAW density-mixer keywords for spin-polarized cells (e.g. {'name': 'multi', 'mixer_a': "
                    "'msr1', 'mixer_b': {'name': 'msr1', 'beta': 0.02}}: the magnetization mixed more gently); "
                    "None: GPAW's default (MSR1, beta 0.05, density and magnetization together). Measured on "
                    "Fe(II) perovskites (benchmarks/bench_gpaw_scf.py): that mixer meets GPAW's criteria in 15-16 "
                    "iterations where the default takes 36 (RbFeF3) to over 120 (CsFeF3), but stops in a state "
                    "0.3 meV/atom higher whose gap is 0.07-0.13 eV smaller, so the default keeps GPAW's.",
    )
    scf_maxiter: int = Field(default=333, ge=1, description="SCF iteration limit (GPAW's default).")
    scf_energy_tolerance: float = Field(
        default=5e-4, gt=0, description="SCF energy convergence, eV per valence electron (GPAW's default)."
    )
    scf_density_tolerance: float = Field(
        default=1e-4, gt=0, description="SCF density convergence, electrons per valence electron (GPAW's)."
    )
    scf_eigenstates_tolerance: float = Field(
        default=4e-8, gt=0,
        description="SCF eigenstate convergence, eV^2 per valence electron (GPAW's default).",
    )

    # --- relaxation ----------------------------------------------------------------------------------
    fmax: float = Field(default=0.05, gt=0, description="Force (and scaled stress) criterion (eV/A).")
    max_steps: int = Field(
        default=50, ge=0,
        description="Optimizer step limit. 0 or 1: no relaxation, the gap is computed at the given "
                    "geometry (for structures already relaxed, e.g. with an ML potential).",
    )
    relax_cell: bool = Field(default=True, description="Relax the cell too (Frechet cell filter), as ISIF 3.")
    pulay_correction: bool = Field(
        default=True,
        description="Correct GPAW's stress for the Pulay stress of the finite cutoff, with dE/decut measured "
                    "on the starting structure (see pulay.py). Without it SrTiO3 relaxes to a = 3.909 A at "
                    "600 eV instead of the 3.945 A where the energy is lowest.",
    )
    pulay_delta: float = Field(
        default=50.0, gt=0, description="Cutoff step (eV) of the central difference giving dE/decut."
    )
    optimizer: Literal["BFGS", "FIRE"] = Field(
        default="BFGS", description="ASE optimizer; BFGS needs far fewer DFT force calls than FIRE."
    )
    accept_unconverged_relaxation: bool = Field(
        default=False,
        description="False: a relaxation that reaches max_steps with forces above fmax fails the candidate "
                    "(structure and energy kept, no gap). True: the gap is computed at the last geometry "
                    "and the message says the relaxation did not converge.",
    )

    # --- band gap ------------------------------------------------------------------------------------
    band_gap_method: BandGapMethod = Field(
        default="bandpath",
        description="'bandpath': non-self-consistent bands along the cell's high-symmetry path (ASE's "
                    "special points), together with the self-consistent mesh. 'mesh': non-self-consistent "
                    "bands on a dense uniform mesh. The self-consistent mesh alone overestimates gaps whose "
                    "edges lie off it (Si: 1.18 eV on a 4x4x4 mesh, 0.57 eV with the path).",
    )
    bandpath_npoints: int = Field(default=60, ge=2, description="k-points along the whole band path.")
    mesh_reciprocal_density: float = Field(
        default=1000.0, gt=0, description="k-point density of the dense uniform mesh (MP's uniform NSCF)."
    )
    bands_tolerance: float = Field(
        default=1e-5, gt=0,
        description="Eigenstate convergence of the non-self-consistent run (eV^2 per valence electron). "
                    "KZnF3's gap was identical (to 1e-5 eV) at 1e-5 and at GPAW's default 4e-8, in 22 "
                    "instead of 35 iterations.",
    )
    extra_bands: int = Field(
        default=6, ge=2, description="Bands above the highest occupied one in the non-self-consistent run."
    )

    # --- how one candidate runs ----------------------------------------------------------------------
    blas_threads: int = Field(
        default=1, ge=1,
        description="OPENBLAS_NUM_THREADS / OMP_NUM_THREADS of the worker process. Serial GPAW with one "
                    "BLAS thread ran Si 8x faster than with OpenBLAS's default threading on 2 cores.",
    )
    timeout_seconds: float | None = Field(
        default=1800.0, gt=0,
        description="Wall-time limit per candidate (None: none); a candidate that exceeds it is stopped and "
        "recorded with status 'timeout'. Most 5-atom perovskites take 100-300 s here; a spin-polarised CsFeF3 "
        "whose SCF crawled took 1885 s, which a loop of DFT rounds cannot afford.",
    )
    parallel_candidates: int | None = Field(
        default=None, ge=1,
        description="Candidates the local pool computes at once, each a serial GPAW process with blas_threads "
        "threads; None: one per CPU core.",
    )

    @field_validator("spin_mixer")
    @classmethod
    def _gpaw_knows_the_mixer(cls, mixer: dict[str, Any] | None) -> dict[str, Any] | None:
        """GPAW's own parser checks the keywords when GPAW is installed (settings load without it too)."""
        if mixer is None:
            return None
        try:
            from gpaw.dft import Mixer
        except ImportError:
            return mixer
        try:
            Mixer.from_param(dict(mixer))
        except (TypeError, ValueError) as error:
            raise ValueError(f"spin_mixer {mixer}: GPAW does not accept it ({error})") from error
        return mixer

    @model_validator(mode="after")
    def _cutoff_above_pulay_step(self) -> GpawSettings:
        if self.pulay_correction and self.pulay_delta >= self.ecut:
            raise ValueError("pulay_delta must be smaller than ecut")
        return self

    def identity(self) -> dict:
        """Settings that change the numbers; how a candidate runs (threads, time limit) is left out."""
        return self.model_dump(exclude={"blas_threads", "timeout_seconds", "parallel_candidates"})
