"""CIF text from data sets: a cheap composition read from the header, and the full parse.

Parsing one CIF with pymatgen costs ~2-3 ms, i.e. minutes for the 69k entries of the MEGNet data set. The
data sets we read were written by pymatgen's ``CifWriter`` in space group P1, whose ``_chemical_formula_sum``
is the composition of the whole cell. Reading that one line lets cheap filters (site count, elements, charge
neutrality) run before any parsing; the parsed structure is checked again afterwards, so a header that
disagrees with the atom list can never let a structure through that the full filters would reject.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
from pymatgen.core import Composition, Structure
from pymatgen.io.cif import CifParser

from smoacs_core.data.entries import EntryError

_FORMULA_SUM = re.compile(
    r"""^_chemical_formula_sum[ \t]+(?:'([^'\n]*)'|"([^"\n]*)"|([^\s'"]+))[ \t]*$""", re.M
)
_P1_NAME = re.compile(
    r"""^_(?:symmetry_space_group_name_H-M|space_group_name_H-M_alt)[ \t]+['"]?P[ \t]*1['"]?[ \t]*$""", re.M
)
_DATA_BLOCK = re.compile(r"^data_", re.M)


def header_composition(cif: str) -> Composition | None:
    """The cell composition from the header of a single-block P1 CIF, or None when it cannot be trusted.

    None means "parse to know": several data blocks, a space group other than P1 (the formula sum then counts
    formula units, not sites), no formula sum, or fractional amounts (partial occupancies).
    """
    if len(_DATA_BLOCK.findall(cif)) != 1 or not _P1_NAME.search(cif):
        return None
    match = _FORMULA_SUM.search(cif)
    if match is None:
        return None
    try:
        composition = Composition(next(group for group in match.groups() if group is not None))
    except ValueError:
        return None
    amounts = np.array(list(composition.values()), dtype=float)
    if len(amounts) == 0 or not np.allclose(amounts, np.round(amounts)):
        return None
    return composition


def parse_cif(cif: str) -> Structure:
    """The first structure of a CIF text, ordered and with a finite, non-degenerate lattice.

    Raises:
        EntryError: category ``unreadable`` (no structure, a parser error, a broken lattice) or ``disordered``
            (partial occupancies, which the optimizer cannot represent).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen warns about every rounding of CIF occupancies
            structures = CifParser.from_str(cif).parse_structures(primitive=False)
    except Exception as error:  # the CIF parser raises anything from ValueError to IndexError on bad text
        raise EntryError(
            "unreadable", f"CIF could not be parsed ({type(error).__name__}: {error})"
        ) from error
    if not structures:
        raise EntryError("unreadable", "CIF holds no structure")
    structure = structures[0]
    if not np.isfinite(structure.lattice.matrix).all() or structure.volume <= 1e-6:
        raise EntryError("unreadable", "lattice is not finite or has zero volume")
    if not structure.is_ordered:
        raise EntryError("disordered", f"partial occupancies are not supported ({structure.formula})")
    return structure
