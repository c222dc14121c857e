"""Reading DFT labels that were computed elsewhere: a JSON or CSV of structures and gaps, or atomate2/emmet task
documents.

Formats (``read_labels`` chooses by content):

- JSON of labels: a list of records, or ``{"labels": [...], <defaults>}`` whose other keys (``code``,
  ``functional``, ``settings``, ``group``) apply to every record that does not set them. A record has ``band_gap``
  (eV), a structure as ``structure`` (pymatgen dict), ``cif`` (CIF text) or ``structure_file`` (path relative to
  the JSON), and optionally ``name``, ``code``, ``functional``, ``energy_per_atom``, ``group``, ``settings``.
- CSV: columns ``structure_file`` (relative to the CSV) and ``band_gap``; optional ``name``, ``code``,
  ``functional``, ``energy_per_atom``, ``group``.
- Task documents (atomate2/emmet ``TaskDoc``, as ``model_dump`` or a jobflow store writes them): one document or a
  list, in ``.json`` or ``.json.gz``; code VASP, the functional from the run type (GGA -> PBE, GGA+U -> PBE+U),
  the gap and energy of ``output``, the INCAR as settings.

A bad row stops the import with an error naming the file and the row; nothing is stored from a file with errors.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError
from pymatgen.core import Structure

from smoacs_core.labels.label import DftLabel

RUN_TYPE_FUNCTIONALS = {"GGA": "PBE", "GGA+U": "PBE+U", "PBE": "PBE", "PBE+U": "PBE+U"}
"""emmet run types whose functional is named differently in our labels; others (r2SCAN, HSE06) keep their name."""


class LabelImportError(ValueError):
    """A labels file that cannot be read, naming the file and the row."""


def read_labels(path: Path, defaults: dict[str, Any] | None = None) -> list[DftLabel]:
    """The labels in ``path`` (format chosen from its content); ``defaults`` (code, functional, group, settings)
    fill fields a file leaves out. The source of every label is the file's name."""
    path = Path(path)
    if not path.is_file():
        raise LabelImportError(f"{path}: no such labels file")
    defaults = {"group": path.stem, **(defaults or {})}
    if path.suffix.lower() == ".csv":
        return _from_csv(path, defaults)
    document = _read_json(path)
    if _is_task_document(document) or (isinstance(document, list) and document and _is_task_document(document[0])):
        documents = document if isinstance(document, list) else [document]
        return [_from_task_document(path, n, d, defaults) for n, d in enumerate(documents)]
    if isinstance(document, dict):
        if "labels" not in document:
            raise LabelImportError(f"{path}: a JSON object of labels needs a 'labels' list (or give a list)")
        defaults = {**defaults, **{k: v for k, v in document.items() if k != "labels"}}
        document = document["labels"]
    if not isinstance(document, list):
        raise LabelImportError(f"{path}: expected a list of label records")
    return [_from_record(path, n, record, defaults) for n, record in enumerate(document)]


def _read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LabelImportError(f"{path}: not readable JSON ({error})") from None


def _is_task_document(document: Any) -> bool:
    return isinstance(document, dict) and "output" in document and ("calcs_reversed" in document or
                                                                     "run_type" in document)


def _label(path: Path, row: int | str, fields: dict[str, Any]) -> DftLabel:
    missing = [key for key in ("code", "functional", "band_gap") if fields.get(key) in (None, "")]
    if missing:
        raise LabelImportError(f"{path}, row {row}: missing {', '.join(missing)} (set it in the file or as an "
                               "import option)")
    fields.setdefault("name", str(row))
    try:
        return DftLabel(source=path.name, **{k: v for k, v in fields.items() if v is not None})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise LabelImportError(f"{path}, row {row}: {problems}") from None


def _structure(path: Path, row: int | str, record: dict[str, Any]) -> Structure:
    try:
        if "structure" in record:
            return Structure.from_dict(record["structure"])
        if "cif" in record:
            return Structure.from_str(record["cif"], fmt="cif")
        if "structure_file" in record:
            return Structure.from_file(path.parent / str(record["structure_file"]))
    except Exception as error:  # pymatgen raises many kinds for a malformed structure
        raise LabelImportError(f"{path}, row {row}: unreadable structure ({type(error).__name__}: {error})") from None
    raise LabelImportError(f"{path}, row {row}: no structure (give 'structure', 'cif' or 'structure_file')")


def _from_record(path: Path, row: int, record: Any, defaults: dict[str, Any]) -> DftLabel:
    if not isinstance(record, dict):
        raise LabelImportError(f"{path}, row {row}: a label record must be an object")
    known = {"name", "band_gap", "code", "functional", "energy_per_atom", "group", "settings"}
    unknown = set(record) - known - {"structure", "cif", "structure_file"}
    if unknown:
        raise LabelImportError(f"{path}, row {row}: unknown fields {sorted(unknown)}")
    fields = {**{k: v for k, v in defaults.items() if k in known}, **{k: record[k] for k in known if k in record}}
    return _label(path, fields.get("name", row), {**fields, "structure": _structure(path, row, record)})


def _from_csv(path: Path, defaults: dict[str, Any]) -> list[DftLabel]:
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise LabelImportError(f"{path}: not a readable CSV ({error})") from None
    missing = {"structure_file", "band_gap"} - set(table.columns)
    if missing:
        raise LabelImportError(f"{path}: missing columns {sorted(missing)}")
    labels = []
    for row, record in enumerate(table.to_dict(orient="records")):
        record = {k: v for k, v in record.items() if not (isinstance(v, float) and math.isnan(v))}
        if "name" in record:
            record["name"] = str(record["name"])
        labels.append(_from_record(path, row, record, defaults))
    return labels


def _from_task_document(path: Path, row: int, document: dict[str, Any], defaults: dict[str, Any]) -> DftLabel:
    output = document.get("output") or {}
    if output.get("structure") is None or output.get("bandgap") is None:
        raise LabelImportError(f"{path}, document {row}: a task document needs output.structure and output.bandgap")
    run_type = str(document.get("run_type") or "")
    incar = (document.get("input") or {}).get("incar") or (document.get("input") or {}).get("parameters") or {}
    fields = {
        "name": str(document.get("task_id") or document.get("dir_name") or row),
        "band_gap": output["bandgap"],
        "energy_per_atom": output.get("energy_per_atom"),
        "code": "VASP",
        "functional": RUN_TYPE_FUNCTIONALS.get(run_type, run_type) or defaults.get("functional"),
        "group": defaults["group"],
        "settings": {"run_type": run_type, "task_type": document.get("task_type"), "incar": incar},
    }
    try:
        structure = Structure.from_dict(output["structure"])
    except Exception as error:  # pymatgen raises many kinds for a malformed structure
        raise LabelImportError(f"{path}, document {row}: unreadable structure ({error})") from None
    return _label(path, row, {**fields, "structure": structure})
