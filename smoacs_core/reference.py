"""What is already known: reduced formulas from a reference table, and a reference set of known crystals.

``known_formulas`` reads formulas from any CSV with a formula column (cheap, composition novelty only).
``ReferenceSet`` is built from a data source and also answers whether a structure is known and what the known
formation energies of a chemical system are (for the convex hull).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Structure

from smoacs_core.data.entries import EntryError, ReferenceEntry, SkippedEntry, SourceRecord
from smoacs_core.data.sources import StructureSource
from smoacs_core.settings import SmoacsSettings

FORMULA_COLUMNS = ("pretty_formula", "formula", "reduced_formula")


def known_formulas(path: str | Path) -> set[str]:
    """Reduced formulas in a CSV file (column pretty_formula, formula or reduced_formula) or all CSVs of a directory."""
    path = Path(path)
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"{path}: no reference CSV file found")
    formulas: set[str] = set()
    for file in files:
        header = pd.read_csv(file, nrows=0).columns
        column = next((c for c in FORMULA_COLUMNS if c in header), None)
        if column is None:
            raise ValueError(f"{file}: needs one of the columns {', '.join(FORMULA_COLUMNS)}")
        for formula in pd.read_csv(file, usecols=[column])[column].dropna():
            formulas.add(Composition(str(formula)).reduced_formula)
    return formulas


class ReferenceSet:
    """Known crystals of one source: "is this composition / structure known?" and known formation energies.

    Built from any ``StructureSource`` (or entries already in hand). Compositions come from the CIF header
    where it can be trusted, so building from the 69k-entry MEGNet set parses nothing; the structures of a
    reduced formula are parsed the first time a structure of that formula is asked about, then kept.
    Unusable entries are kept in ``skipped`` with their reasons.

    Args:
        matcher: decides "same structure"; default pymatgen's ``StructureMatcher()`` with its default
            tolerances (ltol 0.2, stol 0.3, angle_tol 5).
    """

    def __init__(
        self,
        items: Iterable[SourceRecord | ReferenceEntry | SkippedEntry],
        name: str = "reference",
        matcher: StructureMatcher | None = None,
    ) -> None:
        self.name = name
        self.matcher = matcher or StructureMatcher()
        self.skipped: list[SkippedEntry] = []
        self._records: dict[str, list[SourceRecord]] = defaultdict(list)
        self._structures: dict[str, list[tuple[str, Structure]]] = {}
        for item in items:
            record = self._usable(item)
            if record is not None:
                self._records[record.composition.reduced_formula].append(record)

    @classmethod
    def from_source(
        cls,
        source: StructureSource,
        settings: SmoacsSettings | None = None,
        matcher: StructureMatcher | None = None,
    ) -> ReferenceSet:
        """Every usable entry of ``source``."""
        return cls(source.iter_records(settings), name=source.kind, matcher=matcher)

    def _usable(self, item: SourceRecord | ReferenceEntry | SkippedEntry) -> SourceRecord | None:
        """A record whose composition is known (parsing it now if only parsing tells), or None if skipped."""
        if isinstance(item, SkippedEntry):
            self.skipped.append(item)
            return None
        if isinstance(item, ReferenceEntry) or item.composition is None:
            try:
                entry = item if isinstance(item, ReferenceEntry) else item.load()
            except EntryError as error:
                self.skipped.append(item.skipped(error))
                return None
            return SourceRecord(
                id=entry.id,
                source=entry.source,
                composition=entry.structure.composition,
                read=lambda s=entry.structure: s,
                formation_energy_per_atom=entry.formation_energy_per_atom,
                band_gap=entry.band_gap,
                extra=entry.extra,
            )
        return item

    def __len__(self) -> int:
        return sum(len(records) for records in self._records.values())

    @property
    def formulas(self) -> set[str]:
        """Known reduced formulas (the ``known_formulas`` of the novelty rate)."""
        return set(self._records)

    def is_known_composition(self, composition: Composition | Structure | str) -> bool:
        """Whether an entry has the same reduced formula ("elemental combination" of tables A.3/A.5)."""
        return _reduced_formula(composition) in self._records

    def known_structure_id(self, structure: Structure) -> str | None:
        """The id of the first known entry matching ``structure`` (same reduced formula, then the matcher)."""
        for entry_id, known in self._known_structures(structure.composition.reduced_formula):
            if self.matcher.fit(known, structure):
                return entry_id
        return None

    def is_known_structure(self, structure: Structure) -> bool:
        """Whether ``structure`` matches a known entry of the same reduced formula."""
        return self.known_structure_id(structure) is not None

    def _known_structures(self, formula: str) -> list[tuple[str, Structure]]:
        if formula not in self._structures:
            parsed = []
            for record in self._records.get(formula, []):
                try:
                    parsed.append((record.id, record.read()))
                except EntryError as error:
                    self.skipped.append(record.skipped(error))
            self._structures[formula] = parsed
        return self._structures[formula]

    def hull_entries(self, elements: Iterable[str]) -> list[PDEntry]:
        """Known formation energies in the chemical system of ``elements``, ready for ``PhaseDiagram``.

        Each entry's energy is its formation energy per atom times its number of atoms, named by its id; one
        zero-energy entry per element is added, since formation energies are measured from the elements.
        Entries of the source without a formation energy are left out.
        """
        system = set(elements)
        entries = [
            PDEntry(Composition(element), 0.0, name=f"{element} (elemental reference)")
            for element in sorted(system)
        ]
        for records in self._records.values():
            for record in records:
                composition = record.composition.element_composition
                if record.formation_energy_per_atom is None or not {e.symbol for e in composition} <= system:
                    continue
                energy = record.formation_energy_per_atom * composition.num_atoms
                entries.append(PDEntry(composition, energy, name=record.id))
        return entries


def _reduced_formula(composition: Composition | Structure | str) -> str:
    if isinstance(composition, Structure):
        return composition.composition.reduced_formula
    return Composition(composition).reduced_formula
