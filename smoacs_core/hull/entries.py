"""Energies from files, and the corrections that put total energies on one footing.

Readers return what a file holds without judging it: total-energy entries (pymatgen ``ComputedEntry``,
``ComputedStructureEntry``, ``PDEntry``, or the ``entry`` of an emmet/atomate2 task document) and
formation-energy rows (a CSV of formula and formation energy per atom). A file that is not one of these
layouts raises ``ValueError`` naming the file and the first thing wrong with it.

Corrections: pymatgen's ``MaterialsProject2020Compatibility`` is valid only for VASP GGA/GGA+U calculations
with Materials Project settings; entries it rejects (r2SCAN, wrong U values, foreign POTCARs) are skipped with
pymatgen's reason. ``PDEntry`` objects carry no calculation parameters and are used as they are.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from monty.io import zopen
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition, Structure
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

from smoacs_core.data.entries import parse_composition
from smoacs_core.hull.config import Corrections

ENTRY_CLASSES: dict[str, type[PDEntry] | type[ComputedEntry]] = {
    "ComputedEntry": ComputedEntry,
    "ComputedStructureEntry": ComputedStructureEntry,
    "PDEntry": PDEntry,
}
FORMULA_COLUMNS = ("formula", "pretty_formula", "reduced_formula", "composition")
ID_COLUMNS = ("material_id", "id")
FORMATION_COLUMN = "formation_energy_per_atom"
_REASON_CHARS = 300

Entry = ComputedEntry | PDEntry


@dataclass(frozen=True)
class FormationRow:
    """A known compound by its formation energy per atom (eV/atom, relative to the elements)."""

    id: str
    composition: Composition
    formation_energy_per_atom: float


def formula_key(composition: Composition) -> frozenset[tuple[str, float]]:
    """Atom fractions per element: equal exactly for compositions of one reduced formula (V2O4 and VO2).

    A cheap stand-in for ``Composition.reduced_formula``, which costs seconds over 100k rows.
    """
    atoms = composition.num_atoms
    return frozenset((element.symbol, round(amount / atoms, 9)) for element, amount in composition.items())


def lowest_per_formula(rows: Iterable[FormationRow]) -> tuple[list[FormationRow], int]:
    """One row per reduced formula, the one of lowest formation energy (the first of equals), in first-seen
    order; and how many rows lost to it.

    Only the lowest energy of a composition can touch the convex hull; the others (polymorphs, the same
    compound in two data sets) would only be counted twice.
    """
    lowest: dict[frozenset[tuple[str, float]], FormationRow] = {}
    count = 0
    for row in rows:
        count += 1
        key = formula_key(row.composition)
        kept = lowest.get(key)
        if kept is None or row.formation_energy_per_atom < kept.formation_energy_per_atom:
            lowest[key] = row
    return list(lowest.values()), count - len(lowest)


@dataclass
class EntrySet:
    """What a reference file held: total-energy entries and formation-energy rows."""

    total: list[Entry] = field(default_factory=list)
    formation: list[FormationRow] = field(default_factory=list)


def entry_id(entry: Entry) -> str:
    """The id an entry is known by: ``ComputedEntry.entry_id``, else the ``PDEntry`` attribute or name."""
    identifier = getattr(entry, "entry_id", None) or getattr(entry, "attribute", None)
    return str(identifier) if identifier not in (None, "None") else entry.name


def read_entries_file(path: str | Path) -> EntrySet:
    """A user's reference: CSV of formation energies, or JSON/JSON.gz of entries or task documents."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: entries file not found")
    if path.name.lower().endswith((".csv", ".csv.gz")):
        return EntrySet(formation=read_formation_csv(path))
    if ".json" not in path.name.lower():
        raise ValueError(f"{path}: expected a .csv, .json or .json.gz entries file")
    return EntrySet(total=read_entries_json(path))


def read_formation_csv(path: Path) -> list[FormationRow]:
    """Rows of a CSV with a formula column (formula, pretty_formula, reduced_formula or composition) and
    ``formation_energy_per_atom``; an optional material_id/id column names them (default: the row number)."""
    try:
        table = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as error:
        raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    formula_column = next((c for c in FORMULA_COLUMNS if c in table.columns), None)
    if formula_column is None or FORMATION_COLUMN not in table.columns:
        raise ValueError(
            f"{path}: needs a formula column ({', '.join(FORMULA_COLUMNS)}) and '{FORMATION_COLUMN}' "
            f"(found {', '.join(map(str, table.columns)) or 'no columns'})"
        )
    id_column = next((c for c in ID_COLUMNS if c in table.columns), None)
    rows = []
    for number, row in enumerate(table.to_dict("records"), start=1):
        row_id = str(row[id_column]) if id_column and pd.notna(row[id_column]) else f"{path.stem}[{number}]"
        composition = parse_composition(row[formula_column], f"{path}: row {number} ({row_id})")
        energy = _finite(row[FORMATION_COLUMN])
        if energy is None:
            raise ValueError(
                f"{path}: row {number} ({row_id}): {FORMATION_COLUMN} {row[FORMATION_COLUMN]!r} "
                "is not a number"
            )
        rows.append(FormationRow(row_id, composition, energy))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def read_entries_json(path: Path) -> list[Entry]:
    """Entries of a JSON (optionally gzip/bz2/xz compressed) file.

    Layouts: a list of items, or a mapping of id -> item, or a mapping of id -> {label: task document} (the
    Materials Project phase-diagram example). An item is a pymatgen entry dict (``@class`` ComputedEntry,
    ComputedStructureEntry or PDEntry) or a task document (a dict with ``entry`` and ``run_type``).
    """
    try:
        with zopen(path, mode="rt", encoding="utf-8") as stream:
            content = json.load(stream)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON file ({type(error).__name__}: {error})") from error
    if isinstance(content, list):
        items = [(f"{path.name}[{number}]", item) for number, item in enumerate(content)]
    elif isinstance(content, dict) and not _is_item(content):
        items = list(_mapping_items(content))
    else:
        raise ValueError(f"{path}: expected a list or a mapping of entries, found {_describe(content)}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")  # noble gases, harmless
        entries = [_decode(item, key, path) for key, item in items]
    if not entries:
        raise ValueError(f"{path}: holds no entries")
    return entries


def _mapping_items(content: dict) -> Iterator[tuple[str, Any]]:
    for key, value in content.items():
        if (
            isinstance(value, dict)
            and value
            and not _is_item(value)
            and all(_is_item(v) for v in value.values())
        ):
            for label, document in value.items():
                yield str(key), {**document, "_label": label}
        else:
            yield str(key), value


def _is_task_document(value: Any) -> bool:
    return isinstance(value, dict) and "entry" in value and "run_type" in value


def _is_item(value: Any) -> bool:
    return _is_task_document(value) or (isinstance(value, dict) and "@class" in value)


def _decode(item: Any, key: str, path: Path) -> Entry:
    """One entry; task documents become their ``entry`` with the material id and task type kept."""
    if not _is_item(item):
        raise ValueError(
            f"{path}: {key}: expected a ComputedEntry/ComputedStructureEntry/PDEntry dict or a task "
            f"document, found {_describe(item)}"
        )
    document = _is_task_document(item)
    raw = item["entry"] if document else item
    try:
        cls = ENTRY_CLASSES.get(raw.get("@class", "ComputedEntry"))
        if cls is None:
            raise ValueError(f"unsupported class {raw['@class']} (supported: {', '.join(ENTRY_CLASSES)})")
        entry = cls.from_dict(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path}: {key}: not a valid entry ({type(error).__name__}: {error})") from error
    if not isinstance(entry, ComputedEntry):
        entry.attribute = entry.attribute or key
        return entry
    if document:  # its material id and what kind of calculation it was
        entry.entry_id = str(item.get("material_id") or key)
        entry.data["task_type"] = _enum_value(item.get("task_type"))
        entry.data["task_label"] = item.get("_label") or item.get("task_label")
    elif entry.entry_id in (None, "None"):
        entry.entry_id = key
    return entry


def _enum_value(value: Any) -> str | None:
    """emmet serializes enums as {"value": ...}."""
    return value.get("value") if isinstance(value, dict) else value


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"a mapping with keys {', '.join(list(map(str, value))[:5]) or '(none)'}"
    return f"{type(value).__name__} {str(value)[:40]!r}"


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@cache
def _mp2020(check_potcar: bool):
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    return MaterialsProject2020Compatibility(check_potcar=check_potcar)


def apply_corrections(
    entries: Sequence[Entry], corrections: Corrections
) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries on one footing, and (id, reason) for those that cannot be put there.

    MP2020: every ComputedEntry is corrected (existing adjustments are replaced), those the scheme rejects are
    skipped. 'none': entries are kept as they are, but mixing run types (e.g. GGA with r2SCAN) is refused.
    Then one entry per id is kept (a static calculation before a relaxation, then the lowest energy), as the
    Materials Project keeps one energy per material.
    """
    kept: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    if corrections == "MP2020":
        from pymatgen.entries.compatibility import CompatibilityError

        compatibility = _mp2020(check_potcar=True)
        for entry in entries:
            if not isinstance(entry, ComputedEntry):
                kept.append(entry)
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # oxidation-state guesses and peroxide heuristics
                    compatibility.process_entry(entry, clean=True, on_error="raise")
            except CompatibilityError as error:
                skipped.append((entry_id(entry), f"MP2020: {str(error)[:_REASON_CHARS]}"))
                continue
            kept.append(entry)
    else:
        run_types = sorted(
            {str(e.parameters.get("run_type")) for e in entries if isinstance(e, ComputedEntry)} - {"None"}
        )
        if len(run_types) > 1:
            raise ValueError(
                f"entries mix run types {', '.join(run_types)} without a correction scheme; give entries of "
                "one run type, or corrections 'MP2020' for GGA/GGA+U"
            )
        kept = list(entries)
    return _one_per_id(kept), skipped


def _one_per_id(entries: list[Entry]) -> list[Entry]:
    chosen: dict[str, Entry] = {}
    for entry in entries:
        key = entry_id(entry)
        if key not in chosen or _preference(entry) < _preference(chosen[key]):
            chosen[key] = entry
    return list(chosen.values())


def _preference(entry: Entry) -> tuple[bool, float]:
    task_type = entry.data.get("task_type") if isinstance(entry, ComputedEntry) else None
    return task_type != "Static", entry.energy_per_atom


def candidate_total_entry(
    candidate_id: str, crystal: Composition | Structure, energy_per_atom: float, corrections: Corrections
) -> ComputedEntry:
    """A candidate's total energy as an entry on the reference's footing.

    For MP2020 the energy is taken as a Materials Project calculation of the candidate would be run
    (MPRelaxSet): GGA+U with the Materials Project U values where the most electronegative element calls for
    them (oxides and fluorides of Co, Cr, Fe, Mn, Mo, Ni, V, W), GGA otherwise; then the MP2020 anion and
    mixing corrections apply. This is how energies of ML potentials trained on Materials Project calculations
    (M3GNet, CHGNet) are compared with the Materials Project.

    Raises:
        ValueError: the scheme rejects the entry (the reason says why).
    """
    composition = (crystal.composition if isinstance(crystal, Structure) else crystal).element_composition
    energy = energy_per_atom * composition.num_atoms
    if corrections == "none":
        return ComputedEntry(composition, energy, entry_id=candidate_id)
    compatibility = _mp2020(check_potcar=False)  # an ML energy has no POTCAR to check
    anion = max(composition.elements, key=lambda element: element.X).symbol
    u_values = compatibility.u_settings.get(anion, {})
    hubbards = {
        el.symbol: float(u_values[el.symbol]) for el in composition.elements if u_values.get(el.symbol)
    }
    parameters = {
        "run_type": "GGA+U" if hubbards else "GGA",
        "is_hubbard": bool(hubbards),
        "hubbards": hubbards,
    }
    if isinstance(crystal, Structure):
        structure = crystal.copy()
        structure.remove_oxidation_states()
        entry: ComputedEntry = ComputedStructureEntry(
            structure, energy, parameters=parameters, entry_id=candidate_id
        )
    else:
        entry = ComputedEntry(composition, energy, parameters=parameters, entry_id=candidate_id)
    from pymatgen.entries.compatibility import CompatibilityError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compatibility.process_entry(entry, clean=True, on_error="raise")
    except CompatibilityError as error:
        raise ValueError(
            f"candidate {candidate_id}: MP2020 cannot correct it ({str(error)[:_REASON_CHARS]})"
        ) from error
    return entry
