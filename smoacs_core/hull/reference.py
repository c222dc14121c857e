"""Competing phases on the formation-energy footing: the reference a candidate is placed against.

Every reference, whatever it was built from, ends as compounds with formation energies (``FormationRow``:
E_f per atom, composition, entry id) and one zero-energy entry per element. Total energies are converted with
the elemental energies mu (eV/atom): the lowest-energy elemental entry of each element on the same footing, as
``PhaseDiagram`` itself chooses them. The same mu turn a candidate's total energy into a formation energy, so
candidates and reference always share one scale. The compounds become pymatgen ``PDEntry`` objects (energy =
E_f per atom x atoms, name = reduced formula, attribute = entry id) only for the chemical systems asked for:
a reference of 100k formulas is indexed by system, and a phase diagram sees only its own system.

References:

- local: formation energies of a data set in SMOACS_DATA_DIR (default: Matbench's 132,752 Materials Project
  formulas; MP-20; MEGNet's MP 2018.6.1), lowest per reduced formula, the 89 Materials Project elemental
  reference entries (GGA, 2023-02-07, via matbench-discovery; they give mu and add no compound) and, when
  asked for, the GGA/GGA+U task documents of the Materials Project V-O phase-diagram example,
  MP2020-corrected.
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

from smoacs_core.data.entries import EntryError, SkippedEntry, by_element
from smoacs_core.data.sources import MatbenchFormationSource, MegnetJsonSource, Mp20CsvSource
from smoacs_core.hull.config import Corrections, HullConfig, LocalDataset
from smoacs_core.hull.entries import (
    Entry,
    FormationRow,
    apply_corrections,
    entry_id,
    lowest_per_formula,
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

FormationSource = MatbenchFormationSource | Mp20CsvSource | MegnetJsonSource
LEGACY_FOOTING = "Materials Project GGA/GGA+U, legacy corrections (before MP2020)"
DATASET_FOOTINGS: dict[LocalDataset, str] = {
    "matbench_mp_e_form": f"{LEGACY_FOOTING}, as Matbench v0.1 took them from the Materials Project in "
    "2018-2019 (release not recorded)",
    "megnet": f"{LEGACY_FOOTING}, Materials Project 2018.6.1",
    "mp20": "Materials Project GGA/GGA+U as published with MP-20 (release and corrections not recorded)",
}
"""What each data set's formation energies are: the footing the local reference states."""


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
        compounds: rows of two or more elements, on the formation-energy footing.
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
        compounds: Iterable[FormationRow],
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
        self._rows: dict[frozenset[str], list[FormationRow]] = defaultdict(list)
        for row in compounds:
            self._rows[_system(row.composition)].append(row)
        for system in self._rows:
            self.elements |= system
        self._entries: dict[frozenset[str], list[PDEntry]] = {}

    @property
    def n_compounds(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    @property
    def systems(self) -> list[frozenset[str]]:
        """The chemical systems holding at least one compound (what two references can be compared on)."""
        return list(self._rows)

    def compounds_of(self, system: frozenset[str]) -> list[PDEntry]:
        """Compounds made of exactly the elements of ``system``, as PDEntries (made on first use)."""
        if system not in self._entries:
            self._entries[system] = [
                PDEntry(
                    row.composition,
                    row.formation_energy_per_atom * row.composition.num_atoms,
                    name=row.composition.reduced_formula,
                    attribute=row.id,
                )
                for row in self._rows.get(system, ())
            ]
        return list(self._entries[system])

    def entries_in(self, elements: Iterable[str]) -> list[PDEntry]:
        """Everything competing in the chemical system of ``elements``: its compounds, the elements at 0."""
        system = sorted(set(elements))
        entries = [PDEntry(Composition(el), 0.0, name=el, attribute="elemental reference") for el in system]
        for size in range(2, len(system) + 1):
            for subsystem in itertools.combinations(system, size):
                entries += self.compounds_of(frozenset(subsystem))
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
    one_per_formula: bool = False,
) -> HullReference:
    """A reference from total-energy entries (already on one footing) and formation-energy rows.

    mu comes from the lowest elemental entry of ``total``; ``fallback_energies`` (the Materials Project
    elemental references) fill in elements that ``total`` lacks, for ComputedEntries only: a PDEntry's energy
    scale is unknown, so it is never mixed with a foreign elemental energy. A compound whose elements have no
    mu is skipped with the reason. Elemental rows of ``formation`` only mark their element as known (the
    element's reference state is 0 by definition). ``one_per_formula`` keeps the lowest formation energy of
    each reduced formula over both inputs, for references assembled from data sets that repeat formulas
    (polymorphs) or overlap; a note says how many rows that left out.
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
    compounds: list[FormationRow] = []
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
        compounds.append(FormationRow(entry_id(entry), composition, formation_energy / composition.num_atoms))
    elements = {row.composition.elements[0].symbol for row in formation if len(row.composition.elements) == 1}
    compounds += [row for row in formation if len(row.composition.elements) > 1]
    if one_per_formula:
        compounds, superseded = lowest_per_formula(compounds)
        if superseded:
            notes.append(
                f"{superseded} compound rows left out: a lower formation energy of the same reduced formula "
                "is kept (polymorphs, or the same compound in two sources)"
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
    """The reference ``config`` names, for the candidates' chemical ``systems`` (element sets): the Materials
    Project is asked about them, the local Matbench data set reads only their rows (all without ``systems``).

    Raises:
        FileNotFoundError / ValueError: a missing or malformed reference file, naming it.
        ConnectionError: the Materials Project cannot be reached.
    """
    settings = settings or SmoacsSettings()
    if config.reference == "local":
        return local_reference(config, settings, systems)
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


def local_reference(
    config: HullConfig, settings: SmoacsSettings, systems: Iterable[Iterable[str]] = ()
) -> HullReference:
    """Formation energies of the data set, lowest per reduced formula; the MP elemental references (mu for
    total energies); the task documents (MP2020) when asked for. Its footing is stated in ``corrections``, and
    the notes say where the candidates' footing differs from it.

    With ``systems``, the Matbench data set contributes only the rows of those chemical systems and their
    sub-systems (all a phase diagram of them can use; 132,752 formulas take seconds to parse); the small
    data sets are read whole.
    """
    if settings.data_dir is None and config.dataset_path is None:
        raise ValueError(
            "reference 'local': set SMOACS_DATA_DIR (the shared data directory) or give dataset_path"
        )
    chemical_systems = frozenset(frozenset(system) for system in systems) or None
    source: FormationSource
    if config.dataset == "matbench_mp_e_form":
        source = MatbenchFormationSource(path=config.dataset_path, chemical_systems=chemical_systems)
    elif config.dataset == "mp20":
        source = Mp20CsvSource(path=config.dataset_path)
    else:
        source = MegnetJsonSource(path=config.dataset_path)
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
    notes += _footing_notes(config, bool(documents))
    restricted = isinstance(source, MatbenchFormationSource) and chemical_systems is not None
    rows_read = f"{len(formation)} rows" + (" of the candidates' chemical systems" if restricted else "")
    description = (
        f"{config.dataset} formation energies ({rows_read}), "
        f"{sum(len(e.composition.elements) == 1 for e in total)} elemental entries"
        + (f", task documents of {len(documents)} file(s)" if documents else "")
    )
    corrections = f"formation energies: {DATASET_FOOTINGS[config.dataset]}; total energies: MP2020"
    return assemble_reference(
        "local", description, corrections, sources, total, formation, skipped, notes, one_per_formula=True
    )


def _footing_notes(config: HullConfig, with_documents: bool) -> list[str]:
    """Where the candidates' energies or the task documents stand on another footing than the data set."""
    legacy = config.dataset != "mp20"
    notes = []
    if with_documents and legacy:
        notes.append(
            f"{config.dataset}'s formation energies carry the Materials Project's legacy (pre-2020) "
            "corrections, the task documents MP2020: the lowest energy per formula is taken across both "
            "footings"
        )
    if config.footing == "total_energy" and legacy:
        notes.append(
            "footings differ: the candidates' total energies are MP2020-corrected and measured from the "
            f"2023 elemental references, {config.dataset}'s formation energies carry the legacy (pre-2020) "
            "corrections; for MP2020 energies use reference 'mp_api' or an entries file of MP2020 entries"
        )
    elif config.footing == "formation_energy" and legacy:
        notes.append(
            "candidates' formation energies are compared as given: MEGNet's E_f (trained on Materials "
            "Project 2018.6.1) shares the legacy footing; formation energies with MP2020 corrections do not"
        )
    elif config.footing == "formation_energy":
        notes.append(
            "candidates' formation energies are compared as given: MEGNet's E_f (trained on Materials "
            "Project 2018.6.1, legacy corrections) may differ in footing from MP-20's formation energies, "
            "whose release is not recorded"
        )
    return notes


def _formation_rows(
    source: FormationSource, settings: SmoacsSettings
) -> tuple[list[FormationRow], list[tuple[str, str]]]:
    """The source's rows with a composition and formation energy, and (id, reason) of those it skipped."""
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
        rows.append(FormationRow(record.id, by_element(composition), record.formation_energy_per_atom))
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
