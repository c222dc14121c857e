"""Small files in the exact layout of the published MEGNet data set, built from real Materials Project rows.

The full ``mp.2018.6.1.json`` (figshare, ~69k entries, zipped) cannot be fetched here. The published file is a
JSON array of objects with ``material_id``, ``structure`` (CIF text written by pymatgen), ``graph`` (MEGNet's
precomputed graph), ``formation_energy_per_atom``, ``band_gap``, ``G`` and ``K`` (null where unknown),
inside a zip archive as ``mp.2018.6.1.json``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd


def megnet_records(rows: pd.DataFrame) -> list[dict]:
    """One published-layout object per MP-20 row."""
    return [
        {
            "material_id": row.material_id,
            "structure": row.cif,
            "graph": {"atom": [], "bond": [], "state": [[0.0, 0.0]], "index1": [], "index2": []},
            "formation_energy_per_atom": row.formation_energy_per_atom,
            "band_gap": row.band_gap,
            "G": None,
            "K": None,
        }
        for row in rows.itertuples()
    ]


def write_megnet(records: list[dict], path: Path) -> Path:
    """``path`` ending in ``.zip``: the archive as published; otherwise the bare JSON."""
    text = json.dumps(records)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("mp.2018.6.1.json", text)
    else:
        path.write_text(text)
    return path
