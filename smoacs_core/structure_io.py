"""Reading user structures (CIF, POSCAR/CONTCAR, extxyz, a directory of them) with errors that name the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.cif import CifParser

STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar", ".extxyz", ".xyz")
VASP_NAMES = ("POSCAR", "CONTCAR")
SAMPLE_MANIFEST = "manifest.json"


class StructureInputError(ValueError):
    """A structure file that cannot be used, with the reason."""


def _is_structure_file(path: Path) -> bool:
    return path.suffix.lower() in STRUCTURE_SUFFIXES or path.name.startswith(VASP_NAMES)


def _parse(path: Path) -> list[Structure]:
    suffix = path.suffix.lower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about every rounding of CIF occupancies
        if suffix == ".cif":
            structures = CifParser(path).parse_structures(primitive=False)
        elif suffix in (".extxyz", ".xyz"):
            from ase.io import read

            structures = [AseAtomsAdaptor.get_structure(atoms) for atoms in read(path, index=":")]
        else:
            structures = [Structure.from_file(path)]
    if not structures:
        raise ValueError("no structure found")
    return structures


def _check(structure: Structure, label: str) -> None:
    if not np.isfinite(structure.lattice.matrix).all() or structure.volume <= 1e-6:
        raise StructureInputError(f"{label}: lattice is not finite or has zero volume")
    if not structure.is_ordered:
        raise StructureInputError(f"{label}: partial occupancies are not supported ({structure.formula})")


def read_structures(path: str | Path) -> list[tuple[str, Structure]]:
    """(label, structure) pairs from a structure file or every structure file in a directory (sorted by name).

    Raises:
        StructureInputError: naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.exists():
        raise StructureInputError(f"{path}: no such file or directory")
    if path.is_dir() and (path / SAMPLE_MANIFEST).is_file() and (path / "structures").is_dir():
        path = path / "structures"  # the output directory of `smoacs sample`
    files = sorted(p for p in path.iterdir() if p.is_file() and _is_structure_file(p)) if path.is_dir() else [path]
    if not files:
        raise StructureInputError(f"{path}: no CIF, POSCAR or extxyz files in this directory")
    labelled = []
    for file in files:
        try:
            structures = _parse(file)
        except Exception as error:  # parsers raise anything from ValueError to IndexError on bad files
            raise StructureInputError(f"{file}: could not read a structure ({type(error).__name__}: {error})") from error
        for number, structure in enumerate(structures):
            label = file.stem if len(structures) == 1 else f"{file.stem}-{number}"
            _check(structure, f"{file}" if len(structures) == 1 else f"{file} (structure {number})")
            labelled.append((label, structure))
    return labelled
