"""Stage 'sample': the initial crystals of a run, written as files the later stages read.

Perovskite templates, a filtered sample of a data set, structure files, or the optimized candidates of an
earlier run (which the caller reads from the store and passes in).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from smoacs_core.config import OptimizationConfig
from smoacs_core.data.sampling import FilterReport, SamplingConfig, sample_structures
from smoacs_core.files import FileRef
from smoacs_core.perovskite import random_templates
from smoacs_core.settings import SmoacsSettings
from smoacs_core.structure_io import read_structures


class InitialStructures(BaseModel):
    """Where the initial crystals come from."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["perovskite_templates", "dataset", "files", "previous_run"] = Field(
        default="perovskite_templates",
        description="Random perovskite templates (shape from optimization.mode), a filtered sample of a data "
        "set (MEGNet, MP-20, Perov-5, a directory: see 'sampling'), structure files, or the optimized "
        "candidates of an earlier run.",
    )
    sampling: SamplingConfig | None = Field(
        default=None, description="Data set and filters (kind 'dataset'); see docs/data.md."
    )
    count: int = Field(default=64, ge=1, description="Templates to generate, or structures to take at most.")
    path: Path | None = Field(default=None, description="File or directory of CIF/POSCAR/extxyz (kind 'files').")
    run_id: str | None = Field(default=None, description="Earlier run whose candidates to start from.")
    length_range: tuple[float, float] | None = Field(
        default=None, description="Template lengths (A); default: the optimization's length range."
    )
    seed: int = Field(default=0, description="Seed of template generation and structure sampling.")

    @model_validator(mode="after")
    def _check(self) -> InitialStructures:
        if self.kind == "dataset" and self.sampling is None:
            raise ValueError("initial.sampling: required when initial.kind is 'dataset'")
        if self.kind == "files" and self.path is None:
            raise ValueError("initial.path: required when initial.kind is 'files'")
        if self.kind == "previous_run" and not self.run_id:
            raise ValueError("initial.run_id: required when initial.kind is 'previous_run'")
        return self


class InitialStructure(BaseModel):
    """One initial crystal on disk, and how to turn it into a SMOACS template."""

    label: str
    kind: Literal["perovskite", "structure"]
    repeat: int = 1
    file: FileRef

    def load(self) -> Structure:
        return Structure.from_file(self.file.path)


class InitialStructureSet(BaseModel):
    structures: list[InitialStructure]
    report: FilterReport | None = None
    """What the data-set filters read, skipped and removed (kind 'dataset')."""


def _write(structure: Structure, directory: Path, label: str) -> FileRef:
    """pymatgen JSON keeps site order exactly (perovskite templates rely on it); a CIF beside it is for people."""
    CifWriter(structure).write_file(directory / f"{label}.cif")
    path = directory / f"{label}.json"
    structure.to(filename=str(path))
    return FileRef.of(path)


def sample(
    initial: InitialStructures,
    optimization: OptimizationConfig,
    directory: Path,
    earlier_candidates: list[tuple[str, Structure]] | None = None,
    settings: SmoacsSettings | None = None,
) -> InitialStructureSet:
    """Generate, sample or read the initial crystals and write each to ``directory``.

    ``earlier_candidates`` are the optimized candidates of ``initial.run_id`` (kind 'previous_run').
    """
    directory.mkdir(parents=True, exist_ok=True)
    repeat = optimization.supercell_repeat
    report = None
    if initial.kind == "perovskite_templates":
        if not optimization.is_perovskite:
            raise ValueError("initial.kind 'perovskite_templates' needs a perovskite optimization.mode")
        length_range = initial.length_range or optimization.constraints.length_range
        cells = random_templates(initial.count, repeat, length_range, initial.seed)
        labelled = [(f"template-{number:05d}", structure) for number, structure in enumerate(cells)]
    elif initial.kind == "dataset":
        result = sample_structures(initial.sampling, settings or SmoacsSettings())
        (directory / "filter_report.json").write_text(result.report.model_dump_json(indent=2))
        labelled = [(entry.id, entry.structure) for entry in result.entries]
        report = result.report
    else:
        if initial.kind == "previous_run" and earlier_candidates is None:
            raise ValueError(f"initial.run_id: the candidates of run '{initial.run_id}' were not given")
        labelled = read_structures(initial.path) if initial.kind == "files" else earlier_candidates
        if len(labelled) > initial.count:
            chosen = np.random.default_rng(initial.seed).choice(len(labelled), size=initial.count, replace=False)
            labelled = [labelled[i] for i in sorted(chosen)]
    kind = "perovskite" if optimization.is_perovskite else "structure"
    structures = [
        InitialStructure(label=label, kind=kind, repeat=repeat, file=_write(structure, directory, label))
        for label, structure in labelled
    ]
    return InitialStructureSet(structures=structures, report=report)
