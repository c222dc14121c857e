"""Known compositions for novelty: reduced formulas from a reference table (MP-20 or Perov-5 CSV layout)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pymatgen.core import Composition

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
