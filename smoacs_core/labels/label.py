"""One DFT-labelled structure: what the correction models learn from.

A label is a structure and the band gap a DFT code computed for it, with everything needed to judge whether two
labels can be mixed: the code and functional (a GPAW-PBE gap is not a VASP-HSE gap), the settings, where the
number came from and which labels were computed together (``group``, used for leave-one-group-out errors).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pymatgen.core import Structure


class DftLabel(BaseModel):
    """A DFT band gap (and, where known, total energy) of one structure."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, extra="forbid")

    name: str = Field(description="The candidate id or the user's name of this structure, unique within source.")
    structure: Structure = Field(description="The structure the gap was computed for (after any DFT relaxation).")
    band_gap: float = Field(ge=0, description="eV; 0 for a metal.")
    code: str = Field(description="DFT code as results are labelled: 'GPAW', 'VASP', ...")
    functional: str = Field(description="'PBE', 'PBE+U', 'HSE06', ...")
    source: str = Field(description="Where the label came from: 'run <run id>' or the imported file's name.")
    group: str = Field(description="Labels computed together (a run, one check of a benchmark); cross-validation "
                                   "leaves whole groups out, so no group's near-duplicates leak into training.")
    energy_per_atom: float | None = Field(default=None, description="Uncorrected total energy, eV/atom.")
    settings: dict[str, Any] = Field(default_factory=dict, description="The code's settings, as given.")

    @field_validator("band_gap")
    @classmethod
    def _finite_gap(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"band gap must be a finite number of eV, got {value}")
        return value

    @field_validator("structure")
    @classmethod
    def _sane_structure(cls, structure: Structure) -> Structure:
        if not structure.is_ordered:
            raise ValueError(f"{structure.formula}: disordered structures cannot be labels")
        if not all(math.isfinite(x) for x in structure.lattice.abc) or structure.volume <= 0:
            raise ValueError(f"{structure.formula}: lattice is not a finite cell of positive volume")
        return structure

    @property
    def label_id(self) -> str:
        """Stable identity: the same label imported twice is the same row of the store."""
        key = json.dumps([self.source, self.name, self.code, self.functional], separators=(",", ":"))
        return hashlib.sha256(key.encode()).hexdigest()[:20]

    @property
    def label(self) -> str:
        """'GPAW-PBE', 'VASP-PBE+U': how results name where a number came from."""
        return f"{self.code}-{self.functional}"
