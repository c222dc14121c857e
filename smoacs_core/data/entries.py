"""What a data source yields: known crystals with their properties, and the entries it had to skip.

A ``SourceRecord`` is one row before its structure is parsed: it carries the properties and, where the source
allows, a cheap composition, so that filters can run before the expensive CIF parse. ``load()`` turns it into
a ``ReferenceEntry`` (pymatgen ``Structure`` plus properties) or raises ``EntryError`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator
from pymatgen.core import Composition, Element, Structure

SkipCategory = Literal["unreadable", "disordered", "missing_property", "unsupported_element"]
"""Why an entry could not be used: its structure data cannot be read, it has partial occupancies, a property
its source promises is missing, or it holds an element the property models cannot embed."""

PROPERTY_NAMES = ("formation_energy_per_atom", "band_gap")
"""Properties every source maps onto (eV/atom and eV); the source's own columns stay in ``extra``."""


class EntryError(ValueError):
    """One entry that cannot be used, with the category that groups such reasons in reports."""

    def __init__(self, category: SkipCategory, reason: str) -> None:
        super().__init__(reason)
        self.category: SkipCategory = category


class ReferenceEntry(BaseModel):
    """One known crystal: where it comes from, its structure and its reference properties.

    Serializes to JSON (the structure as pymatgen's dict), so that pipeline steps can cache and pass it.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    id: str
    source: str
    structure: Structure
    formation_energy_per_atom: float | None = None
    band_gap: float | None = None
    extra: dict[str, Any] = {}

    @field_validator("structure", mode="before")
    @classmethod
    def _structure_from_dict(cls, value: Any) -> Any:
        return Structure.from_dict(value) if isinstance(value, dict) else value

    @field_serializer("structure")
    def _structure_to_dict(self, structure: Structure) -> dict:
        return structure.as_dict()

    @property
    def formula(self) -> str:
        """Reduced formula, the key for composition novelty."""
        return self.structure.composition.reduced_formula


class SkippedEntry(BaseModel):
    """An entry left out of a run, never silently: its id, source, category and the reason in words."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    category: SkipCategory
    reason: str


@dataclass(frozen=True)
class SourceRecord:
    """One entry of a source before parsing.

    Attributes:
        composition: the cell composition when known without parsing (trusted CIF header, or a structure the
            source already holds); None means only parsing tells.
        read: parses the structure; raises ``EntryError``.
    """

    id: str
    source: str
    composition: Composition | None
    read: Callable[[], Structure] = field(repr=False)
    formation_energy_per_atom: float | None = None
    band_gap: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self) -> ReferenceEntry:
        """The parsed entry. Raises ``EntryError`` when the structure cannot be used."""
        return ReferenceEntry(
            id=self.id,
            source=self.source,
            structure=self.read(),
            formation_energy_per_atom=self.formation_energy_per_atom,
            band_gap=self.band_gap,
            extra=self.extra,
        )

    def skipped(self, error: EntryError) -> SkippedEntry:
        """The skip record for this entry."""
        return SkippedEntry(id=self.id, source=self.source, category=error.category, reason=str(error))


def by_element(composition: Composition) -> Composition:
    """The composition by element (species such as Fe2+ merged into Fe); one of plain elements as it is, not
    copied as ``element_composition`` would: data sets of 100k formulas pass through here."""
    if all(isinstance(species, Element) for species in composition):
        return composition
    return composition.element_composition


def parse_composition(value: Any, where: str) -> Composition:
    """The element composition of a formula; unknown symbols (which pymatgen would take as dummy species) and
    empty formulas raise ValueError prefixed with ``where``."""
    try:
        composition = by_element(Composition(str(value)))
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{where}: '{value}' is not a chemical formula ({error})") from error
    unknown = [str(el) for el in composition.elements if not isinstance(el, Element)]
    if unknown:
        raise ValueError(f"{where}: '{value}' holds {', '.join(unknown)}, not a chemical element")
    if composition.num_atoms <= 0:
        raise ValueError(f"{where}: '{value}' holds no atoms")
    return composition
