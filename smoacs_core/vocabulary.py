"""The elements the optimizer may place, and the per-site oxidation masks M(S_d) of the paper (eq. 3-10)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from pymatgen.core import Species

from smoacs_core.oxidation import allowed_oxidation_states, element_symbols


@cache
def ionic_radius(symbol: str, oxidation_state: int) -> float | None:
    """pymatgen's (Shannon) ionic radius in Angstrom, or None where pymatgen has none (e.g. H+, S2+, Sn2+)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pymatgen warns for every missing radius
        radius = Species(symbol, oxidation_state).ionic_radius
    return None if radius is None else float(radius)


@dataclass(frozen=True)
class ElementVocabulary:
    """An ordered set of elements with their allowed oxidation numbers.

    Args:
        symbols: the elements, in a fixed order that indexes atom-type tensors.
        require_ionic_radius: drop (element, oxidation number) pairs without an ionic radius; needed when a
            tolerance-factor loss must be defined for every choice.
    """

    symbols: tuple[str, ...]
    require_ionic_radius: bool = False

    @classmethod
    def build(
        cls,
        supported: Iterable[Sequence[str]],
        include: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        require_ionic_radius: bool = False,
    ) -> ElementVocabulary:
        """Elements Z = 1..98 that every predictor in ``supported`` knows and that have an allowed oxidation state.

        ``include`` restricts to a user's list, ``exclude`` removes elements; unknown symbols raise.
        """
        known = set(element_symbols())
        for user_list in (include or (), exclude):
            unknown = sorted(set(user_list) - known)
            if unknown:
                raise ValueError(f"unknown element symbols {unknown}")
        common = set.intersection(*(set(s) for s in supported)) if supported else known
        chosen = [
            s
            for s in element_symbols()
            if s in common
            and (include is None or s in set(include))
            and s not in set(exclude)
            and allowed_oxidation_states(s)
        ]
        vocabulary = cls(tuple(chosen), require_ionic_radius)
        if not vocabulary.realizable_states():
            raise ValueError("no element is left to optimize over after the include/exclude filters")
        return vocabulary

    def states(self, symbol: str) -> tuple[int, ...]:
        """Oxidation numbers ``symbol`` may take in this vocabulary."""
        states = allowed_oxidation_states(symbol)
        if self.require_ionic_radius:
            states = tuple(s for s in states if ionic_radius(symbol, s) is not None)
        return states

    def realizable_states(self) -> set[int]:
        """Oxidation numbers that at least one element of the vocabulary can take."""
        return {s for symbol in self.symbols for s in self.states(symbol)}

    def mask(self, oxidation_state: int) -> np.ndarray:
        """m(s): (K,) bool, True for elements that can take ``oxidation_state``."""
        return np.array([oxidation_state in self.states(symbol) for symbol in self.symbols])

    def radii(self, oxidation_state: int) -> np.ndarray:
        """(K,) ionic radii at ``oxidation_state`` (0 where undefined or not allowed)."""
        return np.array(
            [
                (ionic_radius(symbol, oxidation_state) or 0.0) if oxidation_state in self.states(symbol) else 0.0
                for symbol in self.symbols
            ]
        )
