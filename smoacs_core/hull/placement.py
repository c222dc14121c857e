"""Candidates against the convex hull of a reference: energy above hull, decomposition, completeness.

One ``PhaseDiagram`` is built per chemical system from the reference's compounds in that system and its
sub-systems, plus the elements at 0 eV/atom. The candidate itself is not added: its energy above hull is
measured against the known phases only, so a negative value says by how much it would lie below the known hull
(a new stable phase, if the energy is right), and the decomposition names the known phases it competes with.

A hull is only as good as its reference. A missing sub-system (no binary or ternary compound known) makes the
hull too high there and the candidate look more stable than it is; every result records which sub-systems and
elements its reference lacked, and says so in its warnings.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, computed_field
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Element, Structure

from smoacs_core.hull.config import Footing, HullConfig
from smoacs_core.hull.entries import candidate_total_entry
from smoacs_core.hull.reference import HullReference, ReferenceInfo

Candidate = tuple[str, Composition | Structure, float]
"""(id, composition or structure, energy per atom in eV/atom on the configured footing)"""

logger = logging.getLogger(__name__)
_NUMERICAL_SLACK = 1e-8


class DecompositionProduct(BaseModel):
    """A known phase of the decomposition; ``fraction`` is its share of the atoms."""

    formula: str
    id: str
    fraction: float


class Completeness(BaseModel):
    """How much of a chemical system the reference covers."""

    chemical_system: str
    n_competing_phases: int
    """reference compounds in the system and its sub-systems"""
    missing_elements: list[str]
    """elements the reference holds nothing about"""
    missing_subsystems: list[str]
    """sub-systems of two or more elements (the system itself included) without any reference compound"""

    @computed_field
    @property
    def complete(self) -> bool:
        return not self.missing_elements and not self.missing_subsystems


class HullResult(BaseModel):
    """One candidate placed against the hull, with the footing and reference that give the numbers meaning."""

    id: str
    formula: str
    chemical_system: str
    footing: Footing
    energy_per_atom: float | None
    """the candidate's energy as given (eV/atom): a formation energy or a total energy, per ``footing``"""
    formation_energy_per_atom: float | None
    """on the reference's formation-energy scale (total energies: corrected, minus the elements)"""
    e_above_hull: float | None
    """eV/atom; negative below the known hull; None when the candidate could not be placed (see warnings)"""
    on_hull: bool | None
    implausibly_stable: bool = False
    """more than ``HullConfig.implausible_below_hull`` below the known hull: suspect, check before trusting"""
    decomposition: list[DecompositionProduct]
    completeness: Completeness
    reference: ReferenceInfo
    warnings: list[str]


def chemical_system(elements) -> str:
    return "-".join(sorted(elements))


def phase_diagram(reference: HullReference, elements) -> PhaseDiagram:
    """The reference's phase diagram of one chemical system (its compounds and the elements at 0)."""
    return PhaseDiagram(reference.entries_in(elements))


def completeness(reference: HullReference, elements) -> Completeness:
    """Which elements and sub-systems of ``elements`` the reference has nothing for."""
    system = sorted(set(elements))
    subsystems = [
        frozenset(s) for size in range(2, len(system) + 1) for s in itertools.combinations(system, size)
    ]
    return Completeness(
        chemical_system=chemical_system(system),
        n_competing_phases=sum(len(reference.compounds_of(s)) for s in subsystems),
        missing_elements=[el for el in system if el not in reference.elements],
        missing_subsystems=[chemical_system(s) for s in subsystems if not reference.compounds_of(s)],
    )


def _completeness_warnings(reference: HullReference, coverage: Completeness) -> list[str]:
    messages = []
    if coverage.missing_elements:
        messages.append(
            f"reference '{reference.name}' holds nothing about {', '.join(coverage.missing_elements)}"
        )
    if coverage.missing_subsystems:
        messages.append(
            f"reference '{reference.name}' has no compound in {', '.join(coverage.missing_subsystems)} "
            f"(of {coverage.chemical_system}): e_above_hull may be underestimated"
        )
    return messages


def _composition(candidate_id: str, crystal: Composition | Structure) -> Composition:
    if not isinstance(crystal, (Composition, Structure)):
        raise TypeError(
            f"candidate {candidate_id}: expected a pymatgen Composition or Structure, "
            f"got {type(crystal).__name__}"
        )
    composition = (crystal.composition if isinstance(crystal, Structure) else crystal).element_composition
    unknown = [str(el) for el in composition.elements if not isinstance(el, Element)]
    if unknown or composition.num_atoms <= 0:
        raise ValueError(
            f"candidate {candidate_id}: '{composition}' is not a composition of chemical elements"
        )
    return composition


def _formation_energy(
    candidate_id: str,
    crystal: Composition | Structure,
    composition: Composition,
    energy: float,
    reference: HullReference,
    config: HullConfig,
) -> float:
    """The candidate's formation energy per atom on the reference's scale; ValueError says why not."""
    if config.footing == "formation_energy":
        return energy
    missing = sorted(
        el.symbol for el in composition.elements if el.symbol not in reference.elemental_energies
    )
    if missing:
        raise ValueError(
            f"reference '{reference.name}' has no elemental energy for {', '.join(missing)}: a total energy "
            "cannot be compared with it"
        )
    entry = candidate_total_entry(candidate_id, crystal, energy, config.corrections)
    elements = sum(amount * reference.elemental_energies[el.symbol] for el, amount in composition.items())
    return (entry.energy - elements) / composition.num_atoms


def place_on_hull(
    candidates: Sequence[Candidate], reference: HullReference, config: HullConfig
) -> list[HullResult]:
    """Energy above hull, decomposition and reference completeness of every candidate, in input order.

    A candidate that cannot be placed (no finite energy, an energy the correction scheme rejects, an element
    without an elemental energy) gets ``e_above_hull`` None and the reason in its warnings.

    Raises:
        ValueError: an empty composition or a repeated candidate id.
        TypeError: a candidate that is neither a Composition nor a Structure.
    """
    repeated = sorted(i for i, n in Counter(c[0] for c in candidates).items() if n > 1)
    if repeated:
        raise ValueError(f"candidate ids must be unique; repeated: {', '.join(repeated[:5])}")
    info = reference.info()
    tolerance = config.on_hull_tolerance + _NUMERICAL_SLACK
    diagrams: dict[frozenset[str], PhaseDiagram] = {}
    coverages: dict[frozenset[str], Completeness] = {}
    results = []
    for candidate_id, crystal, energy in candidates:
        composition = _composition(candidate_id, crystal)
        system = frozenset(el.symbol for el in composition.elements)
        if system not in coverages:
            coverages[system] = completeness(reference, system)
            for message in _completeness_warnings(reference, coverages[system]):
                logger.warning(message)
        coverage = coverages[system]
        messages = _completeness_warnings(reference, coverage)
        finite = energy is not None and math.isfinite(float(energy))
        formation = e_above_hull = None
        products: list[DecompositionProduct] = []
        try:
            if not finite:
                raise ValueError(f"no finite energy ({energy})")
            formation = _formation_energy(
                candidate_id, crystal, composition, float(energy), reference, config
            )
            if system not in diagrams:
                diagrams[system] = phase_diagram(reference, system)
            decomposition, hull_energy = diagrams[system].get_decomp_and_hull_energy_per_atom(composition)
            e_above_hull = formation - hull_energy
            products = [
                DecompositionProduct(formula=entry.name, id=str(entry.attribute), fraction=float(amount))
                for entry, amount in sorted(decomposition.items(), key=lambda item: -item[1])
            ]
        except ValueError as error:
            messages.append(f"not placed: {error}")
        implausible = e_above_hull is not None and e_above_hull < -config.implausible_below_hull
        if implausible:
            messages.append(
                f"{-e_above_hull:.3f} eV/atom below the known hull: more likely a predictor error or a gap in "
                "the reference than a new stable phase"
            )
        results.append(
            HullResult(
                id=candidate_id,
                formula=composition.reduced_formula,
                chemical_system=coverage.chemical_system,
                footing=config.footing,
                energy_per_atom=float(energy) if finite else None,
                formation_energy_per_atom=formation,
                e_above_hull=e_above_hull,
                on_hull=None if e_above_hull is None else e_above_hull <= tolerance,
                implausibly_stable=implausible,
                decomposition=products,
                completeness=coverage,
                reference=info,
                warnings=messages,
            )
        )
    return results
