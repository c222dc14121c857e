"""Stage 1: initial structures, written as CIF files the later stages read."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from prefect import get_run_logger, task
from pydantic import BaseModel
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from flows.config import InitialStructures
from smoacs_core.config import OptimizationConfig
from smoacs_core.data.sampling import sample_structures
from smoacs_core.perovskite import random_templates
from smoacs_core.settings import SmoacsSettings
from smoacs_core.structure_io import read_structures
from tasks.common import FileRef, open_store


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


def _write(structure: Structure, directory: Path, label: str) -> FileRef:
    """pymatgen JSON keeps site order exactly (perovskite templates rely on it); a CIF beside it is for people."""
    CifWriter(structure).write_file(directory / f"{label}.cif")
    path = directory / f"{label}.json"
    structure.to(filename=str(path))
    return FileRef.of(path)


def _candidate_structures(store_url: str, run_id: str) -> list[tuple[str, Structure]]:
    store = open_store(store_url)
    table = store.candidates(run_id)
    if table.empty:
        raise ValueError(f"initial.run_id: run '{run_id}' has no candidates in {store.display_url}")
    return [(candidate, store.structure(candidate, "optimized")) for candidate in table["id"]]


@task(name="sample-initial-structures", persist_result=True)
def sample_initial_structures(
    initial: InitialStructures, optimization: OptimizationConfig, run_dir: str, store_url: str, run_id: str
) -> InitialStructureSet:
    """Generate perovskite templates, read structure files, or take an earlier run's candidates."""
    logger = get_run_logger()
    directory = Path(run_dir) / "initial"
    directory.mkdir(parents=True, exist_ok=True)
    repeat = optimization.supercell_repeat
    if initial.kind == "perovskite_templates":
        if not optimization.is_perovskite:
            raise ValueError("initial.kind 'perovskite_templates' needs a perovskite optimization.mode")
        length_range = initial.length_range or optimization.constraints.length_range
        labelled = [
            (f"template-{number:05d}", structure)
            for number, structure in enumerate(random_templates(initial.count, repeat, length_range, initial.seed))
        ]
    elif initial.kind == "dataset":
        result = sample_structures(initial.sampling, SmoacsSettings())
        (directory / "filter_report.json").write_text(result.report.model_dump_json(indent=2))
        labelled = [(entry.id, entry.structure) for entry in result.entries]
        logger.info("sampled %d of %d entries read from %s", result.report.chosen, result.report.read,
                    result.report.source)
    else:
        labelled = (
            read_structures(initial.path)
            if initial.kind == "files"
            else _candidate_structures(store_url, initial.run_id or "")
        )
        if len(labelled) > initial.count:
            chosen = np.random.default_rng(initial.seed).choice(len(labelled), size=initial.count, replace=False)
            labelled = [labelled[i] for i in sorted(chosen)]
    kind = "perovskite" if optimization.is_perovskite else "structure"
    structures = [
        InitialStructure(label=label, kind=kind, repeat=repeat, file=_write(structure, directory, label))
        for label, structure in labelled
    ]
    open_store(store_url).set_stage(run_id, "sample", "completed", f"{len(structures)} initial structures")
    logger.info("%d initial structures (%s) in %s", len(structures), initial.kind, directory)
    return InitialStructureSet(structures=structures)
