"""The DFT stage's configuration: which code, which candidates, and that code's settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from smoacs_core.acquisition import AcquisitionConfig
from smoacs_core.dft_filters import DftFilters
from vasp_inputs.backend import DftBackend
from vasp_inputs.gpaw.settings import GpawSettings
from vasp_inputs.results import DftCode
from vasp_inputs.vasp.settings import VaspSettings


class DftConfig(BaseModel):
    """Stages 'dft_submit' / 'dft_harvest'."""

    model_config = ConfigDict(extra="forbid")

    code: DftCode = Field(
        default=DftCode.VASP,
        description="'vasp': atomate2 MP GGA double relaxation + static + uniform non-SCF (see 'vasp' for the "
        "backend: local, fireworks or write); 'gpaw': GPAW plane-wave PBE(+U) on this machine, reported as GPAW.",
    )
    candidates: int = Field(default=8, ge=1, description="How many of the best-ranked candidates get DFT.")
    only_successes: bool = Field(
        default=False,
        description="Only candidates that met every criterion at the judged stage (after pre-relaxation, "
        "when the run relaxes); otherwise the ranking puts successes first and fills up with the closest.",
    )
    max_sites: int | None = Field(
        default=20, ge=1, description="Candidates with more sites are skipped (DFT cost grows ~ N^3)."
    )
    filters: DftFilters = Field(
        default_factory=DftFilters,
        description="Filters before DFT (metal gate, oxidation states, band-gap spread); each dropped candidate "
        "keeps its reason. Off by default.",
    )
    acquisition: AcquisitionConfig = Field(
        default_factory=AcquisitionConfig,
        description="Choose candidates by the probability that their DFT gap lands in the target window under a "
        "trained DFT correction, with a share of picks for the most uncertain (off by default: rank by criteria).",
    )
    max_e_above_hull: float = Field(
        default=0.1, ge=0,
        description="eV/atom: a DFT-confirmed candidate also lies at most this far above the hull, where its DFT "
        "energy stands on the hull reference's footing (VASP with MP2020 corrections against reference 'mp_api' "
        "or an MP2020 entries file). GPAW energies, and references on another footing, leave the criterion to "
        "the band gap alone; the report says which applied.",
    )
    vasp: VaspSettings = Field(default_factory=VaspSettings, description="code 'vasp'.")
    gpaw: GpawSettings = Field(default_factory=GpawSettings, description="code 'gpaw'.")

    def backend(self, code: DftCode | str | None = None) -> DftBackend:
        """The backend of ``code`` (default: the configured one) with this configuration's settings for it."""
        if DftCode(code or self.code) is DftCode.VASP:
            from vasp_inputs.vasp.backends import VaspBackend  # atomate2 and jobflow load only when used

            return VaspBackend(self.vasp)
        from vasp_inputs.gpaw.pool import GpawBackend

        return GpawBackend(self.gpaw)
