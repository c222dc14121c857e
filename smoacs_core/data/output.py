"""Writing a sample to a directory that ``smoacs optimize --input DIR/structures`` reads as it is.

Layout of ``out/``::

    structures/<id>.cif   the chosen structures (one CIF each, named by entry id)
    manifest.csv          one row per chosen structure: id, file, formula, sites, reference properties
    manifest.json         source, configuration, counts skipped and removed per filter, every skipped entry
                          with its reason, the chosen entries and provenance; written last, so its presence
                          means the sample is complete
"""

from __future__ import annotations

import json
import os
import re
import shutil
from importlib.metadata import version
from pathlib import Path

import pandas as pd
from pymatgen.io.cif import CifWriter

from smoacs_core import __version__
from smoacs_core.data.sampling import SampleResult
from smoacs_core.structure_io import SAMPLE_MANIFEST

MANIFEST = SAMPLE_MANIFEST
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class SampleExistsError(FileExistsError):
    """The output directory already holds a sample; we never overwrite one silently."""


def file_stem(entry_id: str) -> str:
    """A file name for an entry id (``mp-1234`` stays as it is; the manifest maps ids to files)."""
    return _UNSAFE.sub("_", entry_id).strip("._") or "entry"


def check_output_dir(out: str | Path, overwrite: bool = False) -> Path:
    """``out`` as a path, after making sure writing there loses nothing (call it before a long sampling run).

    Raises:
        SampleExistsError: ``out`` already holds a manifest or structure files and ``overwrite`` is False.
    """
    out = Path(out)
    structures_dir = out / "structures"
    if not overwrite and (
        (out / MANIFEST).exists() or (structures_dir.is_dir() and any(structures_dir.iterdir()))
    ):
        raise SampleExistsError(f"{out} already holds a sample; choose another --out or --overwrite")
    return out


def write_sample(result: SampleResult, out: str | Path, overwrite: bool = False) -> Path:
    """Write the chosen structures, ``manifest.csv`` and ``manifest.json`` to ``out``; returns ``out``.

    Raises:
        SampleExistsError: ``out`` already holds a manifest or structure files and ``overwrite`` is False.
    """
    out = check_output_dir(out, overwrite)
    structures_dir = out / "structures"
    shutil.rmtree(structures_dir, ignore_errors=True)  # stale CIFs would be read by `optimize --input`
    (out / MANIFEST).unlink(missing_ok=True)
    structures_dir.mkdir(parents=True)
    rows = []
    used: set[str] = set()
    for entry in result.entries:
        stem = file_stem(entry.id)
        stem = (
            next(f"{stem}-{k}" for k in range(1, len(used) + 2) if f"{stem}-{k}" not in used)
            if stem in used
            else stem
        )
        used.add(stem)
        file = f"structures/{stem}.cif"
        CifWriter(entry.structure).write_file(out / file)
        rows.append(
            {
                "id": entry.id,
                "file": file,
                "formula": entry.formula,
                "num_sites": len(entry.structure),
                "formation_energy_per_atom": entry.formation_energy_per_atom,
                "band_gap": entry.band_gap,
                "source": entry.source,
            }
        )
    pd.DataFrame(
        rows,
        columns=["id", "file", "formula", "num_sites", "formation_energy_per_atom", "band_gap", "source"],
    ).to_csv(out / "manifest.csv", index=False)
    report = result.report.model_dump(mode="json")
    manifest = {
        "source": result.config.source.model_dump(mode="json"),
        "files_read": report.pop("files"),
        "config": result.config.model_dump(mode="json"),
        "counts": {key: report[key] for key in ("read", "skipped", "removed", "eligible", "chosen")},
        "skipped_entries": report["skipped_entries"],
        "chosen": rows,
        "seconds": report["seconds"],
        "provenance": {"smoacs": __version__, "pymatgen": version("pymatgen")},
    }
    temporary = out / f"{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    os.replace(temporary, out / MANIFEST)
    return out
