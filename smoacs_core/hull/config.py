"""How candidates are placed against the convex hull: which reference, which energy footing.

A hull is only meaningful when every energy in it stands on the same footing. Two footings are supported:

- ``formation_energy``: the candidates' energies are formation energies per atom relative to the elements
  (MEGNet's E_f, the SMOACS default). Reference entries are used as formation energies: rows that are
  formation energies already (Matbench's Materials Project formation energies, MP-20, a CSV), and
  total-energy entries converted with their elemental references.
- ``total_energy``: the candidates' energies are total energies per atom from DFT or an ML potential trained
  on Materials Project GGA/GGA+U calculations (M3GNet, CHGNet). They get the same correction scheme as the
  reference's total energies (MP2020 by default) and are then compared on the formation-energy scale through
  the reference's elemental energies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ReferenceKind = Literal["local", "mp_api", "entries_file"]
LocalDataset = Literal["matbench_mp_e_form", "mp20", "megnet"]
Footing = Literal["formation_energy", "total_energy"]
Corrections = Literal["MP2020", "none"]


class HullConfig(BaseModel):
    """Which competing phases, which footing; machine paths (the data directory) come from SmoacsSettings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: ReferenceKind = Field(
        default="local",
        description="'local': formation energies of a data set (lowest per reduced formula) plus the "
        "Materials Project elemental references in SMOACS_DATA_DIR; 'mp_api': the Materials Project "
        "(MP_API_KEY in the environment, internet, the optional mp-api package); 'entries_file': your own "
        "entries.",
    )
    dataset: LocalDataset = Field(
        default="matbench_mp_e_form",
        description="'local' only: the data set whose formation energies are the competing phases: "
        "Matbench's 132,752 Materials Project formulas (MP 2018-2019, legacy corrections: the footing of "
        "MEGNet's E_f), MP-20 or MEGNet's MP 2018.6.1 (on which the MEGNet E_f model was "
        "trained).",
    )
    dataset_path: Path | None = Field(
        default=None,
        description="'local' only: the data set's file or directory; default: found in SMOACS_DATA_DIR.",
    )
    task_documents: bool = Field(
        default=False,
        description="'local' only: add the GGA/GGA+U task documents shipped in SMOACS_DATA_DIR (the V-O "
        "phase-diagram example), MP2020-corrected. Off by default: the default data set holds V2O3 and VO2 "
        "itself, lower on its own (legacy) footing.",
    )
    entries_file: Path | None = Field(
        default=None,
        description="'entries_file' only: JSON or JSON.gz of pymatgen ComputedEntry / ComputedStructureEntry "
        "/ PDEntry dicts or task documents, or a CSV of formula and formation_energy_per_atom.",
    )
    footing: Footing = Field(
        default="formation_energy",
        description="What the candidates' energies are: formation energies per atom (eV/atom, relative to "
        "the elements) or total energies per atom (eV/atom, uncorrected, GGA/GGA+U-like).",
    )
    corrections: Corrections = Field(
        default="MP2020",
        description="Correction scheme of total energies (the reference's and, for footing 'total_energy', "
        "the candidates'): pymatgen's MaterialsProject2020Compatibility, or 'none' (an entries file whose "
        "energies already share one footing, e.g. all from the same ML potential).",
    )
    on_hull_tolerance: float = Field(
        default=0.0,
        ge=0.0,
        description="eV/atom above the hull still counted as on it (0: on or below the reference's hull).",
    )
    implausible_below_hull: float = Field(
        default=0.1,
        gt=0.0,
        description="eV/atom: a candidate this far below the known hull is flagged 'implausibly_stable'. "
        "Deep below a well-sampled hull is far more often a predictor error or a gap in the reference than a "
        "new stable phase; such candidates need DFT before anything else.",
    )

    @property
    def mp2020_footing(self) -> bool:
        """Whether the reference's compounds stand on the MP2020 footing, so that a VASP energy with MP2020
        corrections placed against them has a meaningful energy above hull: the Materials Project API's entries
        and an entries file corrected with MP2020 do; the local data sets carry legacy (or unrecorded)
        corrections."""
        return self.reference == "mp_api" or (self.reference == "entries_file" and self.corrections == "MP2020")

    @model_validator(mode="after")
    def _check(self) -> HullConfig:
        if self.reference == "entries_file" and self.entries_file is None:
            raise ValueError("entries_file: required when reference is 'entries_file'")
        if self.reference != "entries_file" and self.entries_file is not None:
            raise ValueError(
                f"entries_file: only read when reference is 'entries_file' (not '{self.reference}')"
            )
        default_dataset = type(self).model_fields["dataset"].default
        if self.reference != "local" and (self.dataset_path is not None or self.dataset != default_dataset):
            raise ValueError(
                f"dataset, dataset_path: only used by reference 'local' (not '{self.reference}')"
            )
        if self.corrections == "none" and self.reference != "entries_file":
            raise ValueError(
                f"corrections: the {self.reference} reference corrects its total energies with MP2020; "
                "'none' is for an entries file whose energies already share one footing"
            )
        return self
