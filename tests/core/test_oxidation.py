"""Oxidation numbers: the paper's table, pattern generation (A.11) and the independent neutrality check (A.9)."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from smoacs_core.oxidation import allowed_oxidation_states, element_symbols, is_charge_neutral, oxidation_patterns

# The "Ours" column of tables A.7-A.9 of the SMOACS paper, transcribed as test data.
PAPER_OURS = {
    "H": {-1, 1}, "Li": {1}, "Be": {2}, "B": {3}, "C": {-4, 4}, "N": {-3, 3, 5}, "O": {-2}, "F": {-1},
    "Na": {1}, "Mg": {2}, "Al": {3}, "Si": {-4, 4}, "P": {-3, 3, 5}, "S": {-2, 2, 4, 6}, "Cl": {-1},
    "K": {1}, "Ca": {2}, "Sc": {3}, "Ti": {4}, "V": {5}, "Cr": {3, 6}, "Mn": {2, 4, 7}, "Fe": {2, 3},
    "Co": {2, 3}, "Ni": {2}, "Cu": {2}, "Zn": {2}, "Ga": {3}, "Ge": {2, 4}, "As": {-3, 3, 5},
    "Se": {-2, 4, 6}, "Br": {-1, 5}, "Rb": {1}, "Sr": {2}, "Y": {3}, "Zr": {4}, "Nb": {5}, "Mo": {4, 6},
    "Ru": {3, 4}, "Rh": {3}, "Pd": {2, 4}, "Ag": {1}, "Cd": {2}, "In": {3}, "Sn": {2, 4},
    "Sb": {-3, 3, 5}, "Te": {-2, 4, 6}, "I": {-1, 5}, "Cs": {1}, "Ba": {2}, "La": {3}, "Ce": {3, 4},
    "Pr": {3}, "Nd": {3}, "Sm": {3}, "Eu": {2, 3}, "Gd": {3}, "Tb": {3}, "Dy": {3}, "Ho": {3}, "Er": {3},
    "Tm": {3}, "Yb": {3}, "Lu": {3}, "Hf": {4}, "Ta": {5}, "W": {4, 6}, "Re": {4}, "Ir": {3, 4},
    "Hg": {1, 2}, "Tl": {1, 3}, "Pb": {2, 4}, "Bi": {3}, "Th": {4}, "U": {6},
}


def test_allowed_states_match_the_paper_for_all_98_elements():
    symbols = element_symbols()
    assert len(symbols) == 98 and symbols[-1] == "Cf"
    for symbol in symbols:
        assert set(allowed_oxidation_states(symbol)) == PAPER_OURS.get(symbol, set()), symbol


def test_run_example_from_appendix_a11():
    """RuN: Ru {2..6} and N {-3..5} in the ICSD data give the patterns (+2, -2) and (+3, -3)."""
    run = Structure(Lattice.cubic(4.0), ["Ru", "N"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert set(oxidation_patterns(run)) == {(2, -2), (3, -3)}


def test_patterns_are_neutral_per_site_and_capped():
    spinel = Structure(
        Lattice.cubic(8.0), ["Mg", "Al", "Al", "O", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.75], [0.1, 0.1, 0.1], [0.3, 0.3, 0.3], [0.6, 0.6, 0.1], [0.8, 0.2, 0.4]],
    )
    patterns = oxidation_patterns(spinel, max_patterns=3)
    assert patterns[0] == (2, 3, 3, -2, -2, -2, -2)
    assert 1 <= len(patterns) <= 3
    assert all(sum(p) == 0 for p in patterns)


def test_patterns_respect_realizable_states():
    """A pattern is dropped when no element of the vocabulary could take one of its numbers."""
    rutile_like = ["Ti", "O", "O"]
    assert oxidation_patterns(rutile_like, realizable={4, -2}) == [(4, -2, -2)]


def test_composition_without_neutral_pattern_is_named():
    with pytest.raises(ValueError, match="NaMg"):
        oxidation_patterns(["Na", "Mg"])
    with pytest.raises(ValueError, match="Ne"):
        oxidation_patterns(["Ne"])


def test_neutrality_check_allows_mixed_valence_per_site():
    assert is_charge_neutral(["Fe", "Fe", "Fe", "O", "O", "O", "O"])  # Fe3O4 = Fe2+ 2 Fe3+ 4 O2-
    assert is_charge_neutral(["Sr", "Ti", "O", "O", "O"])
    assert not is_charge_neutral(["Na", "Na", "O", "O"])
    assert not is_charge_neutral(["Na", "Xe"])  # Xe has no allowed state
    assert not is_charge_neutral(["Na", "Cl", "Cl"])
