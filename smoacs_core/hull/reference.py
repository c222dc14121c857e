"""Competing phases on the formation-energy footing: the reference a candidate is placed against.

Every reference, whatever it was built from, ends as compounds with formation energies (PDEntry energy = E_f
per atom x atoms, name = reduced formula, attribute = entry id) and one zero-energy entry per element. Total
energies are converted with the elemental energies mu (eV/atom): the lowest-energy elemental entry of each
element on the same footing, as ``PhaseDiagram`` itself chooses them. The same mu turn a candidate's total
energy into a formation energy, so candidates and reference always share one scale.

References:

- local: formation energies of MP-20 (or MEGNet's MP 2018.6.1) from SMOACS_DATA_DIR, the 89 Materials
  Project elemental reference entries (GGA, 2023-02-07, via matbench-discovery) and the GGA/GGA+U task
  documents of the Materials Project V-O phase-diagram example, MP2020-corrected.
- entries_file: a user's JSON of entries or task documents, or CSV of formation energies.
- mp_api: the Materials Project, see ``smoacs_core.hull.mp_api``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import ComputedEntry

from smoacs_core.data.entries import EntryError, SkippedEntry
from smoacs_core.data.sources import MegnetJsonSource, Mp20CsvSource
from smoacs_core.hull.config import Corrections, HullConfig
from smoacs_core.hull.entries import (
    Entry,
    FormationRow,
    apply_corrections,
    entry_id,
    read_entries_file,
    read_entries_json,
)
from smoacs_core.settings import SmoacsSettings

ELEMENTAL_REFERENCES = Path("mp_elemental_refs")
"""Folder of SMOACS_DATA_DIR holding the Materials Project elemental reference entries (*.json.gz)."""
TASK_DOCUMENTS = (
    Path("vasp_reference_outputs/mp_phase_diagram_tutorial/MP-example-V-O-phase-diagram.json.gz"),
)
"""Task-document files of SMOACS_DATA_DIR added to the local reference (GGA/GGA+U entries are used)."""


class ReferenceInfo(BaseModel):
    """What a result was compared against, as reports state it."""

    name: str
    description: str
    corrections: str
    n_compounds: int
    n_elements: int
    sources: list[str]
    n_skipped: int
    notes: list[str]


class HullReference:
    """Compounds by formation energy, indexed by chemical system, and the elemental energies behind them.

    Args:
        compounds: entries of two or more elements, energies on the formation-energy footing.
        elements: elements with a reference state (always at 0 eV/atom).
        elemental_energies: mu per element (eV/atom, a total energy) for converting total energies; empty
            when no elemental total energy is known.
        skipped: (id, reason) of every entry that could not be used.
        notes: how the reference was assembled where that matters for reading its numbers.
    """

    def __init__(
        self,
        name: str,
        description: str,
        corrections: str,
        sources: Sequence[str],
        compounds: Iterable[PDEntry],
        elements: Iterable[str],
        elemental_energies: dict[str, float],
        skipped: Sequence[tuple[str, str]] = (),
        notes: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.description = description
        self.corrections = corrections
        self.sources = list(sources)
        self.elements = set(elements) | set(elemental_energies)
        self.elemental_energies = dict(elemental_energies)
        self.skipped = list(skipped)
        self.notes = list(notes)
        self._by_system: dict[frozenset[str], list[PDEntry]] = defaultdict(list)
        for entry in compounds:
            self._by_system[_system(entry.composition)].append(entry)
            self.elements |= {el.symbol for el in entry.composition.elements}

    @property
    def n_compounds(self) -> int:
        return sum(len(entries) for entries in self._by_system.values())

    def compounds_of(self, system: frozenset[str]) -> list[PDEntry]:
        """Compounds made of exactly the elements of ``system``."""
        return list(self._by_system.get(system, ()))

    def entries_in(self, elements: Iterable[str]) -> list[PDEntry]:
        """Everything competing in the chemical system of ``elements``: its compounds, the elements at 0."""
        system = sorted(set(elements))
        entries = [PDEntry(Composition(el), 0.0, name=el, attribute="elemental reference") for el in system]
        for size in range(2, len(system) + 1):
            for subsystem in itertools.combinations(system, size):
                entries += self._by_system.get(frozenset(subsystem), ())
        return entries

    def info(self) -> ReferenceInfo:
        return ReferenceInfo(
            name=self.name,
            description=self.description,
            corrections=self.corrections,
            n_compounds=self.n_compounds,
            n_elements=len(self.elements),
            sources=self.sources,
            n_skipped=len(self.skipped),
            notes=self.notes,
        )


def _system(composition: Composition) -> frozenset[str]:
    return frozenset(el.symbol for el in composition.elements)


def assemble_reference(
    name: str,
    description: str,
    corrections: str,
    sources: Sequence[str],
    total: Sequence[Entry] = (),
    formation: Sequence[FormationRow] = (),
    skipped: Sequence[tuple[str, str]] = (),
    notes: Sequence[str] = (),
    fallback_energies: dict[str, float] | None = None,
) -> HullReference:
    """A reference from total-energy entries (already on one footing) and formation-energy rows.

    mu comes from the lowest elemental entry of ``total``; ``fallback_energies`` (the Materials Project
    elemental references) fill in elements that ``total`` lacks, for ComputedEntries only: a PDEntry's energy
    scale is unknown, so it is never mixed with a foreign elemental energy. A compound whose elements have no
    mu is skipped with the reason. Elemental rows of ``formation`` only mark their element as known (the
    element's reference state is 0 by definition).
    """
    skipped = list(skipped)
    notes = list(notes)
    own: dict[str, float] = {}
    for entry in total:
        if len(entry.composition.elements) == 1:
            element = entry.composition.elements[0].symbol
            own[element] = min(own.get(element, entry.energy_per_atom), entry.energy_per_atom)
    fallback = {el: mu for el, mu in (fallback_energies or {}).items() if el not in own}
    used_fallback: set[str] = set()
    compounds: list[PDEntry] = []
    for entry in total:
        composition = entry.composition.element_composition
        if len(composition.elements) == 1:
            continue
        mu = {}
        for element in (el.symbol for el in composition.elements):
            if element in own:
                mu[element] = own[element]
            elif element in fallback and isinstance(entry, ComputedEntry):
                mu[element] = fallback[element]
                used_fallback.add(element)
        missing = sorted({el.symbol for el in composition.elements} - set(mu))
        if missing:
            skipped.append((entry_id(entry), f"no elemental entry for {', '.join(missing)} on its footing"))
            continue
        formation_energy = entry.energy - sum(amount * mu[el.symbol] for el, amount in composition.items())
        compounds.append(
            PDEntry(
                composition, formation_energy, name=composition.reduced_formula, attribute=entry_id(entry)
            )
        )
    elements = {row.composition.elements[0].symbol for row in formation if len(row.composition.elements) == 1}
    for row in formation:
        if len(row.composition.elements) > 1:
            energy = row.formation_energy_per_atom * row.composition.num_atoms
            compounds.append(
                PDEntry(row.composition, energy, name=row.composition.reduced_formula, attribute=row.id)
            )
    if used_fallback:
        notes.append(
            f"elemental energies of {', '.join(sorted(used_fallback))} taken from the Materials Project "
            "elemental references (the entries file has none)"
        )
    return HullReference(
        name, description, corrections, sources, compounds, elements, {**fallback, **own}, skipped, notes
    )


def load_reference(
    config: HullConfig, settings: SmoacsSettings | None = None, systems: Iterable[Iterable[str]] = ()
) -> HullReference:
    """The reference ``config`` names; the Materials Project is asked about ``systems`` (element sets).

    Raises:
        FileNotFoundError / ValueError: a missing or malformed reference file, naming it.
        ConnectionError: the Materials Project cannot be reached.
    """
    settings = settings or SmoacsSettings()
    if config.reference == "local":
        return local_reference(config, settings)
    if config.reference == "entries_file":
        return entries_file_reference(config.entries_file, config.corrections, settings)
    from smoacs_core.hull.mp_api import mp_api_reference

    return mp_api_reference(systems)


def elemental_references(settings: SmoacsSettings) -> tuple[list[Entry], list[str]]:
    """The Materials Project elemental reference entries in SMOACS_DATA_DIR, and the files they came from."""
    if settings.data_dir is None:
        return [], []
    files = sorted((settings.data_dir / ELEMENTAL_REFERENCES).glob("*.json*"))
    return [entry for file in files for entry in read_entries_json(file)], [str(f) for f in files]


def local_reference(config: HullConfig, settings: SmoacsSettings) -> HullReference:
    """Formation energies of the data set, the MP elemental references and the task documents (MP2020)."""
    if settings.data_dir is None and config.dataset_path is None:
        raise ValueError(
            "reference 'local': set SMOACS_DATA_DIR (the shared data directory) or give dataset_path"
        )
    source = (Mp20CsvSource if config.dataset == "mp20" else MegnetJsonSource)(path=config.dataset_path)
    sources = [str(f) for f in source.files(settings)]
    formation, skipped = _formation_rows(source, settings)
    total, element_files = elemental_references(settings)
    sources += element_files
    notes = []
    if not element_files:
        notes.append(
            "no Materials Project elemental references found: candidates' total energies cannot be placed"
        )
    documents = []
    if config.task_documents and settings.data_dir is not None:
        documents = [settings.data_dir / p for p in TASK_DOCUMENTS if (settings.data_dir / p).is_file()]
    for file in documents:
        total += read_entries_json(file)
        sources.append(str(file))
    total, rejected = apply_corrections(total, "MP2020")
    skipped += rejected
    if config.dataset == "megnet" and documents:
        notes.append(
            "MEGNet's formation energies use the Materials Project's pre-2020 corrections; the task "
            "documents use MP2020 (the schemes differ by up to ~0.1 eV/atom for oxides)"
        )
    description = (
        f"{config.dataset} formation energies ({len(formation)} rows), "
        f"{sum(len(e.composition.elements) == 1 for e in total)} elemental entries"
        + (f", task documents of {len(documents)} file(s)" if documents else "")
    )
    return assemble_reference("local", description, "MP2020", sources, total, formation, skipped, notes)


def _formation_rows(
    source: MegnetJsonSource | Mp20CsvSource, settings: SmoacsSettings
) -> tuple[list[FormationRow], list[tuple[str, str]]]:
    rows, skipped = [], []
    for record in source.iter_records(settings):
        if isinstance(record, SkippedEntry):
            skipped.append((record.id, record.reason))
            continue
        composition = record.composition
        if composition is None:  # the CIF header cannot be trusted: parse the structure
            try:
                composition = record.read().composition
            except EntryError as error:
                skipped.append((record.id, str(error)))
                continue
        rows.append(
            FormationRow(record.id, composition.element_composition, record.formation_energy_per_atom)
        )
    return rows, skipped


def entries_file_reference(path: Path, corrections: Corrections, settings: SmoacsSettings) -> HullReference:
    """A user's entries; with MP2020, elements the file lacks take Materials Project elemental energies."""
    content = read_entries_file(path)
    total, skipped = apply_corrections(content.total, corrections)
    fallback: dict[str, float] = {}
    sources = [str(path)]
    if corrections == "MP2020":
        elemental, files = elemental_references(settings)
        for entry in apply_corrections(elemental, "MP2020")[0]:
            element = entry.composition.elements[0].symbol
            fallback[element] = min(fallback.get(element, entry.energy_per_atom), entry.energy_per_atom)
        sources += files
    if content.total and not total:
        raise ValueError(f"{path}: none of its {len(content.total)} entries can be used ({skipped[0][1]})")
    kind = "formation energies" if content.formation else "entries"
    description = f"{path.name}: {len(content.formation) or len(total)} {kind}"
    return assemble_reference(
        "entries_file", description, corrections, sources, total, content.formation, skipped, (), fallback
    )
