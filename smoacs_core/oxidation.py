"""Oxidation numbers: which element may take which charge, patterns from a composition, neutrality checks.

The SMOACS paper (appendix A.9, tables A.7-A.9, column "Ours") keeps only commonly occurring oxidation numbers:
those in both pymatgen's ``icsd_oxidation_states`` and ``common_oxidation_states``. We compute that
intersection from pymatgen rather than retyping the table. pymatgen has since added common states for two
elements (C: -3, -2, 2, 3; Re: 7); ``PAPER_EXCEPTIONS`` restores the paper's values for those so that
the masks match the published method (a test checks the whole table against the paper).

Patterns (appendix A.11) are generated per element from the broader ICSD set, so that e.g. RuN yields
(+2, -2) and (+3, -3); the per-site masks then use the narrow "Ours" set, which keeps every final choice
charge neutral whatever elements the optimizer picks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from functools import cache

from pymatgen.core import Composition, Element, Structure

MAX_Z = 98
"""The paper considers atomic numbers 1..98 (K = 98)."""

PAPER_EXCEPTIONS: dict[str, tuple[int, ...]] = {"C": (-4, 4), "Re": (4,)}
"""Elements whose pymatgen data changed after the paper; values from the paper's table A.7/A.8."""


@cache
def allowed_oxidation_states(symbol: str) -> tuple[int, ...]:
    """Oxidation numbers an element may take at a site (the paper's "Ours" column), ascending."""
    if symbol in PAPER_EXCEPTIONS:
        return PAPER_EXCEPTIONS[symbol]
    element = Element(symbol)
    return tuple(sorted(set(element.icsd_oxidation_states) & set(element.common_oxidation_states)))


@cache
def pattern_oxidation_states(symbol: str) -> tuple[int, ...]:
    """Oxidation numbers considered when generating patterns from a composition (ICSD states, A.11)."""
    states = set(Element(symbol).icsd_oxidation_states) | set(allowed_oxidation_states(symbol))
    return tuple(sorted(states))


def element_symbols(max_z: int = MAX_Z) -> tuple[str, ...]:
    """Element symbols for Z = 1..max_z."""
    return tuple(Element.from_Z(z).symbol for z in range(1, max_z + 1))


def oxidation_patterns(
    sites: Structure | Sequence[str], max_patterns: int = 10, realizable: Iterable[int] | None = None
) -> list[tuple[int, ...]]:
    """Charge-neutral oxidation-number patterns (one number per site) for a structure's composition.

    Each element takes one oxidation number for all of its sites, chosen from its ICSD states; the
    patterns whose numbers sum to zero are kept. Patterns using only the elements' common ("Ours") states
    come first, then those with the smallest charges; at most ``max_patterns`` are returned.

    Args:
        sites: a structure, or the element symbol of every site.
        max_patterns: the paper uses up to 10.
        realizable: if given, only oxidation numbers in this set may appear (numbers for which at least one
            element of the optimizer's vocabulary is allowed); other patterns could never be filled.

    Raises:
        ValueError: if the composition admits no neutral pattern, naming the composition.
    """
    symbols = _site_symbols(sites)
    elements = sorted(set(symbols), key=symbols.index)
    counts = [symbols.count(e) for e in elements]
    usable = set(realizable) if realizable is not None else None
    candidates = []
    for states in itertools.product(*(pattern_oxidation_states(e) for e in elements)):
        if sum(c * s for c, s in zip(counts, states)) != 0:
            continue
        if usable is not None and not set(states) <= usable:
            continue
        uncommon = sum(s not in allowed_oxidation_states(e) for e, s in zip(elements, states))
        candidates.append((uncommon, sum(abs(s) for s in states), states))
    if not candidates:
        formula = Composition("".join(symbols)).reduced_formula
        raise ValueError(
            f"{formula}: no charge-neutral combination of oxidation numbers "
            f"({', '.join(f'{e}: {pattern_oxidation_states(e)}' for e in elements)})"
        )
    candidates.sort()
    by_element = [dict(zip(elements, states)) for *_, states in candidates[:max_patterns]]
    return [tuple(pattern[s] for s in symbols) for pattern in by_element]


def is_charge_neutral(sites: Structure | Sequence[str]) -> bool:
    """Whether some choice of allowed oxidation numbers, one per site, sums to zero (paper A.9).

    Sites of the same element may take different numbers (Fe3O4 = Fe2+ Fe3+ Fe3+ O4 is neutral). This is
    an exact subset-sum over sites and does not trust any optimizer mask.
    """
    reachable = {0}
    for symbol in _site_symbols(sites):
        states = allowed_oxidation_states(symbol)
        if not states:
            return False
        reachable = {total + s for total in reachable for s in states}
    return 0 in reachable


def site_oxidation_states(structure: Structure) -> tuple[int, ...]:
    """The oxidation number each site's species carries (0 where it carries none)."""
    return tuple(int(getattr(site.specie, "oxi_state", 0) or 0) for site in structure)


def _site_symbols(sites: Structure | Sequence[str]) -> list[str]:
    if isinstance(sites, Structure):
        if not sites.is_ordered:
            raise ValueError(f"{sites.formula}: partial occupancies are not supported")
        return [site.specie.symbol for site in sites]
    return [str(s) for s in sites]
