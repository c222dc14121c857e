"""De-duplication within a run and novelty against known crystals (StructureMatcher on real MP-20 structures)."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from smoacs_core.data.sources import Mp20CsvSource
from smoacs_core.duplicates import find_duplicates
from smoacs_core.reference import ReferenceSet
from smoacs_core.settings import SmoacsSettings
from smoacs_core.uniqueness import NoveltyConfig, uniqueness_table


def _decorated(structure: Structure) -> Structure:
    """As the optimizer hands candidates over: species carry oxidation states."""
    decorated = structure.copy()
    decorated.add_oxidation_state_by_guess()
    return decorated


@pytest.fixture(scope="module")
def mp20_reference(data_dir) -> ReferenceSet:
    return ReferenceSet.from_source(Mp20CsvSource(), SmoacsSettings(data_dir=data_dir))


def test_the_same_crystal_twice_is_one_candidate(srtio3):
    strained = srtio3.copy()
    strained.apply_strain(0.03)  # StructureMatcher scales volumes: still SrTiO3 in the same structure
    supercell = srtio3.copy()
    supercell.make_supercell([1, 1, 2])
    tetragonal = Structure(Lattice.tetragonal(3.9, 5.6), srtio3.species, srtio3.frac_coords)
    baltio = srtio3.copy()
    baltio.replace_species({"Sr": "Ba"})
    candidates = [("a", _decorated(srtio3)), ("b", strained), ("c", supercell), ("d", tetragonal), ("e", baltio)]
    assert find_duplicates(candidates) == {"a": None, "b": "a", "c": "a", "d": None, "e": None}


def test_repeated_ids_are_rejected(srtio3):
    with pytest.raises(ValueError, match="repeated: x"):
        find_duplicates([("x", srtio3), ("x", srtio3)])


def test_novelty_separates_known_structures_new_polymorphs_and_new_compositions(mp20_reference, mp20_rows, srtio3):
    row = mp20_rows.iloc[0]  # GaTe, mp-10009
    known = Structure.from_str(row["cif"], fmt="cif")
    shaken = known.copy()
    shaken.perturb(0.02)
    polymorph = Structure(Lattice.cubic(4.0), ["Ga", "Te"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # CsCl-type GaTe
    invented = Structure(Lattice.cubic(4.1), ["Sr", "Ti", "O", "O", "O"], srtio3.frac_coords)
    invented.replace_species({"Sr": "Rb", "Ti": "Zn", "O": "F"})
    table = uniqueness_table(
        [("known", known), ("shaken", shaken), ("polymorph", polymorph), ("new", _decorated(invented))],
        mp20_reference,
    ).set_index("id")
    assert table.loc["known", "known_structure_id"] == row["material_id"]
    assert table.loc["shaken", "duplicate_of"] == "known" and not table.loc["shaken", "unique"]
    assert table.loc["polymorph", "known_composition"] and table.loc["polymorph", "novel_structure"]
    assert table.loc["polymorph", "unique"]  # same formula, other structure: not a duplicate
    assert not table.loc["new", "known_composition"] and table.loc["new", "novel_structure"]
    assert table.loc["new", "formula"] == "RbZnF3"


def test_without_reference_only_duplicates_are_judged(srtio3):
    table = uniqueness_table([("a", srtio3)], reference=None)
    assert table.loc[0, "unique"] and table.loc[0, "novel_structure"] is None


def test_novelty_reference_is_a_data_source_or_none():
    assert NoveltyConfig().reference.kind == "mp20"
    assert NoveltyConfig.model_validate({"reference": {"kind": "perov5"}}).reference.kind == "perov5"
    assert NoveltyConfig.model_validate({"reference": None}).reference is None
    with pytest.raises(ValueError, match="kind"):
        NoveltyConfig.model_validate({"reference": {"kind": "icsd"}})
