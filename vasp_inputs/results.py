"""What a DFT calculation of one candidate produced, whatever the code and backend.

The VASP (atomate2) and GPAW paths both hand their outcome to the pipeline as a ``DftResult``: the results
store, the hull step and the report read only this, so they never need to know which code ran. ``code`` and
``functional`` travel with every number, so a GPAW-PBE gap is never reported as a VASP one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

DftStatus = Literal["written", "submitted", "completed", "failed", "timeout", "lost"]
OPEN_STATUSES: tuple[DftStatus, ...] = ("written", "submitted")
"""Calculations a harvest still has to look at."""


class DftCode(StrEnum):
    """The DFT code, as configurations spell it ('vasp', 'gpaw'); stores and reports use its ``label``."""

    VASP = "vasp"
    GPAW = "gpaw"

    @classmethod
    def _missing_(cls, value: object) -> DftCode | None:
        """'VASP' (a store's spelling) reads as the same code as 'vasp'."""
        return cls.__members__.get(value.upper()) if isinstance(value, str) else None

    @property
    def label(self) -> str:
        """'VASP', 'GPAW': how results are labelled everywhere."""
        return self.name

    @property
    def on_materials_project_footing(self) -> bool:
        """Whether its energies (with MP2020 corrections) can be placed on a Materials Project hull: VASP with
        MP input sets can; GPAW's PAW setups put total energies on another footing."""
        return self is DftCode.VASP

    @property
    def footing_note(self) -> str:
        """What a report says about the footing of this code's energies ('' when on MP's footing)."""
        if self.on_materials_project_footing:
            return ""
        return (f"{self.label}-PBE results come from {self.label} (plane waves, PAW setups of {self.label}), not "
                "VASP; their total energies are not on the Materials Project footing and are not placed on the hull.")


class DftSubmission(BaseModel):
    """Where one candidate's DFT work went, so a later harvest can find it."""

    model_config = ConfigDict(frozen=True)

    candidate: str = Field(description="Candidate id (label) the calculation belongs to.")
    code: DftCode
    backend: Literal["local", "fireworks", "write"]
    directory: str = Field(description="Calculation folder (inputs written there; outputs expected there).")
    reference: str = Field(
        default="", description="Backend handle: FireWorks fw/workflow id, jobflow uuid, local pool process id."
    )
    status: DftStatus = "submitted"
    message: str = Field(default="", description="Why a submission failed, when it did.")


class DftResult(BaseModel):
    """One candidate's DFT outcome. Failures keep their record with a status and a message."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidate: str
    code: DftCode
    functional: str = Field(description="e.g. 'PBE', 'PBE+U': what the numbers were computed with.")
    status: DftStatus
    structure: Structure | None = Field(default=None, description="Relaxed structure.")
    energy_per_atom: float | None = Field(default=None, description="Uncorrected total energy (eV/atom).")
    corrected_energy_per_atom: float | None = Field(
        default=None, description="With MP2020-compatible corrections where applicable (VASP only)."
    )
    band_gap: float | None = Field(default=None, description="eV, from a band path or dense uniform mesh.")
    is_gap_direct: bool | None = None
    seconds: float | None = Field(default=None, description="Wall time of the whole calculation.")
    directory: str = ""
    message: str = ""

    @property
    def label(self) -> str:
        """How reports name where the numbers came from: 'GPAW-PBE', 'VASP-PBE+U'."""
        return f"{self.code.label}-{self.functional}"
