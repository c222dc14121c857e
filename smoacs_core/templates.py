"""Initial crystals for SMOACS: perovskite templates or user structures, with their oxidation patterns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pymatgen.core import Structure

from smoacs_core.crystal import CrystalTemplate
from smoacs_core.oxidation import oxidation_patterns, site_oxidation_states
from smoacs_core.perovskite import ideal_sites, random_templates, site_patterns
from smoacs_core.vocabulary import ElementVocabulary


def perovskite_template(structure: Structure, label: str, repeat: int = 1) -> CrystalTemplate:
    """A perovskite template around ``structure``'s lattice: ideal sites of an n x n x n ABX3 cell."""
    coords, roles = ideal_sites(repeat)
    if len(structure) != len(roles):
        raise ValueError(f"{label}: a {repeat}x{repeat}x{repeat} perovskite has {len(roles)} sites, not {len(structure)}")
    return CrystalTemplate(
        structure=structure,
        patterns=tuple(site_patterns(roles)),
        label=label,
        ideal_frac_coords=coords,
        site_roles=roles,
    )


def perovskite_cells(
    count: int, repeat: int = 1, length_range: tuple[float, float] = (2.0, 10.0), seed: int = 0
) -> list[tuple[str, Structure]]:
    """``count`` random ABX3 (super)cells, labelled 'perovskite-template-<n>' (or 'perovskite3x3x3-...')."""
    name = "perovskite" if repeat == 1 else f"perovskite{repeat}x{repeat}x{repeat}"
    cells = random_templates(count, repeat, length_range, seed)
    return [(f"{name}-template-{number}", structure) for number, structure in enumerate(cells)]


def perovskite_templates(
    count: int, repeat: int = 1, length_range: tuple[float, float] = (2.0, 10.0), seed: int = 0
) -> list[CrystalTemplate]:
    """``count`` random ABX3 (super)cells with the two perovskite oxidation patterns (paper 3.3, A.7)."""
    return [
        perovskite_template(structure, label, repeat)
        for label, structure in perovskite_cells(count, repeat, length_range, seed)
    ]


@dataclass
class TemplateSelection:
    """Usable initial crystals, and the ones left out with the reason (never silently dropped)."""

    templates: list[CrystalTemplate] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def structure_templates(
    structures: Sequence[Structure], labels: Sequence[str], vocabulary: ElementVocabulary, max_patterns: int = 10
) -> TemplateSelection:
    """Templates from existing crystals; patterns from each composition (paper A.11).

    A structure is rejected, with its label and reason, if it is disordered or has no charge-neutral
    pattern that the vocabulary can fill (e.g. intermetallics, noble-gas compounds).
    """
    realizable = vocabulary.realizable_states()
    selection = TemplateSelection()
    for structure, label in zip(structures, labels, strict=True):
        try:
            patterns = oxidation_patterns(structure, max_patterns=max_patterns, realizable=realizable)
        except ValueError as error:
            selection.rejected.append((label, str(error)))
            continue
        selection.templates.append(CrystalTemplate(structure=structure, patterns=tuple(patterns), label=label))
    return selection


def candidate_templates(structures: Sequence[Structure], labels: Sequence[str], perovskite_repeat: int | None) -> list[CrystalTemplate]:
    """Templates to judge finished candidates by (after relaxation, say): perovskite sites for perovskite runs,
    otherwise the candidate itself with the oxidation numbers its species carry."""
    if perovskite_repeat is not None:
        return [perovskite_template(s, label, perovskite_repeat) for s, label in zip(structures, labels, strict=True)]
    return [
        CrystalTemplate(structure=s, patterns=(site_oxidation_states(s),), label=label)
        for s, label in zip(structures, labels, strict=True)
    ]
