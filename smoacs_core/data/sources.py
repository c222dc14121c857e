"""Where known crystals come from: one interface over MEGNet, MP-20, Perov-5, user files and templates.

Every source is a small pydantic model (so a run records exactly which source it read) that yields
``SourceRecord``s lazily, one row at a time, and ``SkippedEntry``s for rows it cannot use, never raising for a
single bad row. File-level problems (a missing file, a CSV without the expected columns, a truncated JSON) do
raise, naming the file: they would silently change what "the data set" means.

Layouts, as published:

- MEGNet (Materials Project 2018.6.1, ~69k entries, the SMOACS paper's data): ``mp.2018.6.1.json``, zipped
  at figshare, a JSON array of objects with ``material_id``, ``structure`` (CIF text),
  ``formation_energy_per_atom`` (eV/atom), ``band_gap`` (eV, PBE), plus ``graph``, ``G`` and ``K`` (unused).
- MP-20 (CDVAE benchmark): ``{train,val,test}.csv`` with ``material_id``, ``cif``,
  ``formation_energy_per_atom``, ``band_gap``, ``e_above_hull``, ``pretty_formula``, ``elements``,
  ``spacegroup.number``.
- Perov-5 (Castelli cubic perovskites, CDVAE benchmark): ``{train,val,test}.csv`` with ``material_id``,
  ``cif``, ``formula``, ``heat_ref``, ``heat_all``, ``dir_gap``, ``ind_gap``. Not on Materials Project's
  scale: ``heat_ref`` (the heat of formation CDVAE trains on, eV/atom) becomes ``formation_energy_per_atom``
  and the indirect (= fundamental) GLLB-SC gap ``ind_gap`` becomes ``band_gap``; compare them with the
  GLLB-SC band-gap model and never mix them into a Materials Project convex hull.
- Matbench ``matbench_mp_e_form`` (Dunn et al., npj Comput. Mater. 2020), composition only, as redistributed
  in the crabnet 2.0.8 wheel: ``mp_e_form.csv`` with ``formula`` (not reduced; polymorphs repeat a formula)
  and ``target`` (formation energy, eV/atom), 132,752 rows, no structures and no material ids. It feeds
  convex-hull references, not structure sampling.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from smoacs_core.data.cif import header_composition, parse_cif
from smoacs_core.data.download import download
from smoacs_core.data.entries import (
    PROPERTY_NAMES,
    EntryError,
    ReferenceEntry,
    SkippedEntry,
    SourceRecord,
    parse_composition,
)
from smoacs_core.data.json_stream import iter_json_array
from smoacs_core.perovskite import random_templates
from smoacs_core.settings import SmoacsSettings
from smoacs_core.structure_io import STRUCTURE_SUFFIXES, VASP_NAMES, StructureInputError, read_structures

MEGNET_URL = "https://figshare.com/ndownloader/files/15087992"
"""The published zip of ``mp.2018.6.1.json`` (the link matgl's MEGNet training examples download)."""

MEGNET_FILE = "mp.2018.6.1.json"
SPLITS = ("train", "val", "test")
_CSV_CHUNK_ROWS = 2000


class StructureSource(BaseModel, ABC):
    """A source of known crystals.

    Subclasses set ``kind`` (the discriminator in configuration files), ``provides`` (which of
    ``formation_energy_per_atom``/``band_gap`` every usable entry carries) and implement ``iter_records``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    provides: ClassVar[tuple[str, ...]] = ()

    def files(self, settings: SmoacsSettings | None = None) -> list[Path]:
        """The files this source reads on this machine (downloading them first if needed)."""
        return []

    @abstractmethod
    def iter_records(self, settings: SmoacsSettings | None = None) -> Iterator[SourceRecord | SkippedEntry]:
        """Every entry, unparsed, in the source's order; rows that cannot be used come as ``SkippedEntry``."""

    def iter_entries(self, settings: SmoacsSettings | None = None) -> Iterator[ReferenceEntry | SkippedEntry]:
        """Every entry parsed into a pymatgen structure (costs a CIF parse per entry)."""
        for item in self.iter_records(settings):
            if isinstance(item, SkippedEntry):
                yield item
                continue
            try:
                yield item.load()
            except EntryError as error:
                yield item.skipped(error)


def _number(value: Any) -> float | None:
    """A finite float, or None for missing, non-numeric or non-finite values."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _cif_record(
    source: str, entry_id: str, cif: Any, properties: dict[str, tuple[str, Any]], extra: dict[str, Any]
) -> SourceRecord | SkippedEntry:
    """A record for a row holding CIF text; ``properties`` maps our name to (source field, raw value)."""
    if not isinstance(cif, str) or not cif.strip():
        return SkippedEntry(id=entry_id, source=source, category="unreadable", reason="no CIF text")
    values = {}
    for name, (field, raw) in properties.items():
        values[name] = _number(raw)
        if values[name] is None:
            return SkippedEntry(
                id=entry_id,
                source=source,
                category="missing_property",
                reason=f"{field} is missing or not a number ({raw!r})",
            )
    return SourceRecord(
        id=entry_id,
        source=source,
        composition=header_composition(cif),
        read=lambda: parse_cif(cif),
        extra=extra,
        **values,
    )


class MegnetJsonSource(StructureSource):
    """The MEGNet data set (Materials Project 2018.6.1), the SMOACS paper's source of initial structures.

    Found, in order: ``path``; ``mp.2018.6.1.json`` or ``mp.2018.6.1.json.zip`` in ``data_dir`` or
    ``data_dir/megnet``; the cached download in ``cache_dir/data``; else downloaded there from figshare
    (ConnectionError, with what to do, when offline). The JSON is streamed, also from inside the zip.
    """

    kind: Literal["megnet"] = "megnet"
    path: Path | None = Field(
        default=None, description="mp.2018.6.1.json or its zip; default: see class doc."
    )
    provides: ClassVar[tuple[str, ...]] = PROPERTY_NAMES

    def files(self, settings: SmoacsSettings | None = None) -> list[Path]:
        if self.path is not None:
            if not self.path.is_file():
                raise FileNotFoundError(f"{self.path}: MEGNet data file not found")
            return [self.path]
        settings = settings or SmoacsSettings()
        if settings.data_dir is not None:
            for folder in (settings.data_dir, settings.data_dir / "megnet"):
                for name in (MEGNET_FILE, f"{MEGNET_FILE}.zip"):
                    if (folder / name).is_file():
                        return [folder / name]
        cached = settings.cache_dir.expanduser() / "data" / f"{MEGNET_FILE}.zip"
        if not cached.is_file():
            download(MEGNET_URL, cached, f"the MEGNet data set ({MEGNET_FILE})", verify=_json_member)
        return [cached]

    def iter_records(self, settings: SmoacsSettings | None = None) -> Iterator[SourceRecord | SkippedEntry]:
        (file,) = self.files(settings)
        with _open_json(file) as stream:
            for number, item in enumerate(iter_json_array(stream, str(file))):
                if not isinstance(item, dict):
                    yield SkippedEntry(
                        id=f"{file.name}[{number}]",
                        source=self.kind,
                        category="unreadable",
                        reason="entry is not a JSON object",
                    )
                    continue
                entry_id = str(item.get("material_id") or f"{file.name}[{number}]")
                yield _cif_record(
                    self.kind,
                    entry_id,
                    item.get("structure"),
                    {name: (name, item.get(name)) for name in PROPERTY_NAMES},
                    {key: item[key] for key in ("G", "K") if _number(item.get(key)) is not None},
                )


def _json_member(archive: Path) -> str:
    """The name of the data set's JSON file inside a zip archive."""
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive}: not a zip archive")
    with zipfile.ZipFile(archive) as opened:
        names = [n for n in opened.namelist() if n.endswith(".json") and not n.startswith("__MACOSX")]
    exact = [n for n in names if Path(n).name == MEGNET_FILE]
    if exact or len(names) == 1:
        return (exact or names)[0]
    raise ValueError(
        f"{archive}: expected {MEGNET_FILE} inside the zip archive (found {names or 'no JSON file'})"
    )


@contextmanager
def _open_json(file: Path) -> Iterator[IO[str]]:
    """A text stream over a JSON file, or over the data set's JSON inside a zip."""
    if file.suffix.lower() != ".zip":
        with open(file, encoding="utf-8") as stream:
            yield stream
        return
    member = _json_member(file)
    with zipfile.ZipFile(file) as archive, archive.open(member) as raw:
        yield io.TextIOWrapper(raw, encoding="utf-8")


class _CsvSource(StructureSource):
    """A CDVAE-style benchmark: a directory of ``{train,val,test}.csv`` (or one CSV), a CIF column per row."""

    path: Path | None = Field(default=None, description="A CSV file or a directory of split CSVs.")
    splits: tuple[str, ...] | None = Field(
        default=None,
        description="Splits to read from a directory; default: every one of train/val/test present.",
    )

    folders: ClassVar[tuple[str, ...]]
    """Folder names looked for in ``data_dir`` when no path is given (the full set first)."""
    property_columns: ClassVar[dict[str, str]]
    extra_columns: ClassVar[tuple[str, ...]]

    def files(self, settings: SmoacsSettings | None = None) -> list[Path]:
        path = self.path or self._default_folder(settings or SmoacsSettings())
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: {self.kind} CSV file or directory not found")
        if self.splits is not None:
            files = [path / f"{split}.csv" for split in self.splits]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                raise FileNotFoundError(f"{self.kind} split file(s) not found: {', '.join(missing)}")
            return files
        files = [path / f"{split}.csv" for split in SPLITS if (path / f"{split}.csv").is_file()]
        if not files:
            raise FileNotFoundError(f"{path}: none of {', '.join(f'{s}.csv' for s in SPLITS)} found")
        return files

    def _default_folder(self, settings: SmoacsSettings) -> Path:
        if settings.data_dir is None:
            raise ValueError(f"{self.kind} source: give its path or set SMOACS_DATA_DIR")
        candidates = [settings.data_dir / folder for folder in self.folders]
        found = next((c for c in candidates if c.is_dir()), None)
        if found is None:
            raise FileNotFoundError(
                f"{self.kind} data not found (looked in {', '.join(map(str, candidates))})"
            )
        return found

    def iter_records(self, settings: SmoacsSettings | None = None) -> Iterator[SourceRecord | SkippedEntry]:
        for file in self.files(settings):
            header = set(pd.read_csv(file, nrows=0).columns)
            needed = {"material_id", "cif", *self.property_columns.values()}
            if not needed <= header:
                raise ValueError(
                    f"{file}: not the {self.kind} layout (missing columns {sorted(needed - header)})"
                )
            chunks = pd.read_csv(file, chunksize=_CSV_CHUNK_ROWS, dtype={"material_id": str, "cif": str})
            rows = (row for chunk in chunks for row in chunk.to_dict("records"))
            for number, row in enumerate(rows):
                entry_id = (
                    row["material_id"] if isinstance(row["material_id"], str) else f"{file.name}[{number}]"
                )
                extra = {"split": file.stem}
                extra.update({c: row[c] for c in self.extra_columns if c in row and pd.notna(row[c])})
                yield _cif_record(
                    self.kind,
                    entry_id,
                    row["cif"],
                    {name: (column, row[column]) for name, column in self.property_columns.items()},
                    extra,
                )


class Mp20CsvSource(_CsvSource):
    """MP-20 (CDVAE): Materials Project structures with at most 20 sites, PBE properties."""

    kind: Literal["mp20"] = "mp20"
    provides: ClassVar[tuple[str, ...]] = PROPERTY_NAMES
    folders: ClassVar[tuple[str, ...]] = ("mp_20", "mp_20_subset")
    property_columns: ClassVar[dict[str, str]] = {
        "formation_energy_per_atom": "formation_energy_per_atom",
        "band_gap": "band_gap",
    }
    extra_columns: ClassVar[tuple[str, ...]] = ("e_above_hull", "spacegroup.number")


class Perov5CsvSource(_CsvSource):
    """Perov-5 (CDVAE): cubic ABX3 perovskites of Castelli et al.; heat of formation and GLLB-SC gaps."""

    kind: Literal["perov5"] = "perov5"
    provides: ClassVar[tuple[str, ...]] = PROPERTY_NAMES
    folders: ClassVar[tuple[str, ...]] = ("perov_5",)
    property_columns: ClassVar[dict[str, str]] = {
        "formation_energy_per_atom": "heat_ref",
        "band_gap": "ind_gap",
    }
    extra_columns: ClassVar[tuple[str, ...]] = ("heat_all", "dir_gap")


MATBENCH_FORMATION_FILE = Path("matbench_composition/mp_e_form.csv")
"""Where ``MatbenchFormationSource`` finds its file in ``data_dir``."""
_SYMBOL = re.compile(r"[A-Z][a-z]?")


def _no_structure() -> Structure:
    raise EntryError("unreadable", "matbench_mp_e_form holds formulas only, no structure")


class MatbenchFormationSource(StructureSource):
    """Formation energies of Materials Project formulas from Matbench v0.1 ``matbench_mp_e_form``.

    Footing: Materials Project GGA/GGA+U formation energies as Matbench v0.1 took them from the Materials
    Project in 2018-2019, i.e. with the legacy corrections that preceded MP2020 (the exact release is not
    recorded with the file). Records carry a composition and ``formation_energy_per_atom`` only: ``read()``
    raises ``EntryError`` (there is no structure), so this source serves convex-hull references, never
    structure sampling. Rows are known by their position in the file (``mp_e_form.csv[41]``: data row 41,
    counted from 0). A formula that is not one of chemical elements, or a missing or non-finite energy, is a
    ``SkippedEntry``.

    ``chemical_systems`` reads only the rows a convex hull of those systems needs: parsing all 132,752
    formulas costs seconds, a run's candidates need a few thousand. The row's element symbols, taken from its
    text, must all lie in one of the systems; every row that pymatgen would parse into such a system passes
    (its symbols are the same), and rows whose text shows no symbol at all pass too, to be reported as skips.
    """

    kind: Literal["matbench_mp_e_form"] = "matbench_mp_e_form"
    path: Path | None = Field(
        default=None, description=f"mp_e_form.csv; default: {MATBENCH_FORMATION_FILE} in SMOACS_DATA_DIR."
    )
    chemical_systems: frozenset[frozenset[str]] | None = Field(
        default=None,
        description="Only rows made of elements of one of these systems (sub-systems included); None: all.",
    )
    provides: ClassVar[tuple[str, ...]] = ("formation_energy_per_atom",)

    def files(self, settings: SmoacsSettings | None = None) -> list[Path]:
        if self.path is None:
            data_dir = (settings or SmoacsSettings()).data_dir
            if data_dir is None:
                raise ValueError(f"{self.kind} source: give its path or set SMOACS_DATA_DIR")
            path = data_dir / MATBENCH_FORMATION_FILE
        else:
            path = self.path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: {self.kind} file not found")
        return [path]

    def iter_records(self, settings: SmoacsSettings | None = None) -> Iterator[SourceRecord | SkippedEntry]:
        (file,) = self.files(settings)
        table = pd.read_csv(file, dtype=str, na_filter=False)  # empty cells stay "" and are skipped below
        if not {"formula", "target"} <= set(table.columns):
            raise ValueError(
                f"{file}: not the {self.kind} layout (needs columns formula and target, found "
                f"{', '.join(map(str, table.columns)) or 'none'})"
            )
        wanted = _subsystems(self.chemical_systems) if self.chemical_systems is not None else None
        for number, (formula, target) in enumerate(zip(table["formula"], table["target"], strict=True)):
            if wanted is not None and frozenset(_SYMBOL.findall(formula)) not in wanted:
                continue
            entry_id = f"{file.name}[{number}]"
            try:
                composition = parse_composition(formula, entry_id)
            except ValueError as error:
                yield SkippedEntry(id=entry_id, source=self.kind, category="unreadable", reason=str(error))
                continue
            energy = _number(target)
            if energy is None:
                yield SkippedEntry(
                    id=entry_id,
                    source=self.kind,
                    category="missing_property",
                    reason=f"target (formation energy) is missing or not a finite number ({target!r})",
                )
                continue
            yield SourceRecord(
                id=entry_id,
                source=self.kind,
                composition=composition,
                read=_no_structure,
                formation_energy_per_atom=energy,
            )


def _subsystems(systems: frozenset[frozenset[str]]) -> set[frozenset[str]]:
    """Every subset of every system, the empty one included."""
    return {
        frozenset(subset)
        for system in systems
        for size in range(len(system) + 1)
        for subset in itertools.combinations(sorted(system), size)
    }


class DirectorySource(StructureSource):
    """The user's own structures: a CIF/POSCAR/extxyz file or a directory of them (no properties)."""

    kind: Literal["directory"] = "directory"
    path: Path

    def files(self, settings: SmoacsSettings | None = None) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path}: no such file or directory")
        files = sorted(
            p
            for p in self.path.iterdir()
            if p.is_file() and (p.suffix.lower() in STRUCTURE_SUFFIXES or p.name.startswith(VASP_NAMES))
        )
        if not files:
            raise FileNotFoundError(f"{self.path}: no CIF, POSCAR or extxyz files in this directory")
        return files

    def iter_records(self, settings: SmoacsSettings | None = None) -> Iterator[SourceRecord | SkippedEntry]:
        for file in self.files(settings):
            try:
                labelled = read_structures(file)
            except StructureInputError as error:  # unparseable, broken lattice or partial occupancies
                yield SkippedEntry(id=file.stem, source=self.kind, category="unreadable", reason=str(error))
                continue
            for label, structure in labelled:
                yield SourceRecord(
                    id=label,
                    source=self.kind,
                    composition=structure.composition,
                    read=lambda s=structure: s,
                    extra={"file": file.name},
                )


class PerovskiteTemplateSource(StructureSource):
    """Generated ABX3 perovskite (super)cells with random cubic-angled lattices (paper 3.3, A.7, A.8)."""

    kind: Literal["perovskite"] = "perovskite"
    repeat: Literal[1, 2, 3] = Field(
        default=1, description="n for n x n x n supercells (3: the paper's 135 sites)."
    )
    count: int = Field(default=16, ge=1, description="Number of templates.")
    length_range: tuple[float, float] | None = Field(
        default=None,
        description="Cell lengths (A) drawn uniformly; default (2, 10) per unit cell, (6, 30) for 3x3x3.",
    )
    seed: int = 0

    def iter_records(self, settings: SmoacsSettings | None = None) -> Iterator[SourceRecord | SkippedEntry]:
        lengths = self.length_range or (2.0 * self.repeat, 10.0 * self.repeat)
        name = "perovskite" if self.repeat == 1 else f"perovskite{self.repeat}x{self.repeat}x{self.repeat}"
        for number, structure in enumerate(random_templates(self.count, self.repeat, lengths, self.seed)):
            yield SourceRecord(
                id=f"{name}-template-{number}",
                source=name,
                composition=structure.composition,
                read=lambda s=structure: s,
                extra={"repeat": self.repeat},
            )
