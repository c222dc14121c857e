"""The default local hull reference: Matbench's Materials Project formation energies (mp_e_form.csv in
../shared/data/matbench_composition), lowest per reduced formula across sources, its footing stated, bad rows
counted. One test reads all 132,752 rows; the others read excerpts of real rows written to tmp_path."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from pymatgen.core import Composition

from smoacs_core.data.entries import EntryError, SkippedEntry
from smoacs_core.data.sources import MatbenchFormationSource
from smoacs_core.hull.config import HullConfig
from smoacs_core.hull.placement import place_on_hull
from smoacs_core.hull.reference import load_reference

MATBENCH = "matbench_composition/mp_e_form.csv"


@pytest.fixture(scope="module")
def matbench(data_dir) -> pd.DataFrame:
    """The real file as a table, each row's element set beside it (no formula parsed by pymatgen)."""
    table = pd.read_csv(data_dir / MATBENCH)
    return table.assign(elements=table["formula"].str.findall(r"[A-Z][a-z]?").map(frozenset))


def _of(matbench: pd.DataFrame, *systems: str) -> pd.DataFrame:
    """Real rows whose elements are exactly one of ``systems`` ("O-Sr-Ti")."""
    return matbench[matbench["elements"].isin({frozenset(s.split("-")) for s in systems})]


def _lowest(rows: pd.DataFrame) -> dict[str, float]:
    """Lowest formation energy per reduced formula of compounds, computed here from the raw rows."""
    reduced = rows["formula"].map(lambda f: Composition(f).reduced_formula)
    compounds = rows["elements"].map(len) > 1
    return rows[compounds].groupby(reduced[compounds])["target"].min().to_dict()


def _energies(reference, system: str) -> dict[str, float]:
    return {e.name: e.energy_per_atom for e in reference.compounds_of(frozenset(system.split("-")))}


def _write(path, rows: pd.DataFrame, extra_lines: str = ""):
    rows[["formula", "target"]].to_csv(path, index=False)
    path.write_text(path.read_text() + extra_lines)
    return path


def test_malformed_rows_are_counted_skips_and_good_rows_records(tmp_path, matbench):
    rows = _of(matbench, "O-Sr-Ti", "O-Sr", "O-Ti", "Sr-Ti", "O", "Sr", "Ti")
    path = _write(tmp_path / "mp_e_form.csv", rows, "Xq2O1,-1.0\nO3Sr1Ti1,nan\nO1Sr1,\n,-1.0\n")
    items = list(MatbenchFormationSource(path=path).iter_records())
    skipped = [item for item in items if isinstance(item, SkippedEntry)]
    n = len(rows)
    assert [(s.id, s.category) for s in skipped] == [
        (f"mp_e_form.csv[{n}]", "unreadable"),
        (f"mp_e_form.csv[{n + 1}]", "missing_property"),
        (f"mp_e_form.csv[{n + 2}]", "missing_property"),
        (f"mp_e_form.csv[{n + 3}]", "unreadable"),
    ]
    assert "'Xq2O1' holds Xq0+, not a chemical element" in skipped[0].reason
    records = items[:n]
    assert [r.formation_energy_per_atom for r in records] == pytest.approx(rows["target"].tolist())
    assert [r.composition for r in records] == [Composition(f) for f in rows["formula"]]
    with pytest.raises(EntryError, match="formulas only, no structure"):
        records[0].read()

    reference = load_reference(HullConfig(dataset_path=path))
    assert reference.info().n_skipped == 4 and reference.skipped[0][0] == f"mp_e_form.csv[{n}]"
    for system in ("O-Sr-Ti", "O-Sr", "O-Ti", "Sr-Ti"):
        assert _energies(reference, system) == pytest.approx(_lowest(_of(rows, system)))
    polymorphs = sum(_of(rows, "O-Sr-Ti", "O-Sr", "O-Ti", "Sr-Ti")["elements"].map(len) > 1) - sum(
        len(_lowest(_of(rows, s))) for s in ("O-Sr-Ti", "O-Sr", "O-Ti", "Sr-Ti")
    )
    assert f"{polymorphs} compound rows left out" in " ".join(reference.notes)


def test_lowest_energy_per_formula_wins_across_sources(tmp_path, matbench):
    """Real V-O rows without the VO2 polymorphs below the task document's VO2: the MP2020 task document wins
    VO2, the data set keeps its lower V2O3; each formula is in the reference once, and the note says the two
    footings were mixed."""
    elements_only = _write(tmp_path / "elements.csv", _of(matbench, "O", "V"))
    documents = load_reference(HullConfig(dataset_path=elements_only, task_documents=True))
    document_vo2, document_v2o3 = (_energies(documents, "O-V")[f] for f in ("VO2", "V2O3"))
    rows = _of(matbench, "O-V", "O", "V")
    vo2 = rows["formula"].map(lambda f: Composition(f).reduced_formula == "VO2")
    assert (rows[vo2]["target"] < document_vo2).any()  # in the whole file, Matbench's own VO2 is the lowest
    rows = rows[~(vo2 & (rows["target"] < document_vo2))]
    path = _write(tmp_path / "mp_e_form.csv", rows)
    reference = load_reference(HullConfig(dataset_path=path, task_documents=True))
    names = [e.name for e in reference.compounds_of(frozenset({"V", "O"}))]
    assert len(names) == len(set(names))
    by_name = {e.name: e for e in reference.compounds_of(frozenset({"V", "O"}))}
    assert by_name["VO2"].attribute == "mp-541404"
    assert by_name["VO2"].energy_per_atom == pytest.approx(document_vo2)
    assert by_name["V2O3"].attribute.startswith("mp_e_form.csv[")
    assert by_name["V2O3"].energy_per_atom == pytest.approx(_lowest(rows)["V2O3"])
    assert by_name["V2O3"].energy_per_atom < document_v2o3
    assert any("task documents MP2020" in note for note in reference.notes)


def test_default_reference_knows_the_materials_project_compounds(matbench):
    """The whole file (the one test that reads it): SrTiO3 and KZnF3 at their lowest Materials Project
    formation energies, every row accounted for, the footing stated, known compositions placed."""
    config = HullConfig()
    reference = load_reference(config)
    info = reference.info()
    assert info.name == "local" and info.sources[0].endswith(MATBENCH)
    assert "legacy corrections (before MP2020)" in info.corrections and "2018-2019" in info.corrections
    assert any("MEGNet's E_f (trained on Materials Project 2018.6.1) shares the legacy footing" in note
               for note in info.notes)
    for system in ("O-Sr-Ti", "O-Sr", "O-Ti", "F-K-Zn", "F-K", "F-Zn", "K-Zn"):
        assert _energies(reference, system) == pytest.approx(_lowest(_of(matbench, system))), system
    assert _energies(reference, "O-Sr-Ti")["SrTiO3"] == pytest.approx(-3.569174561083332)
    left_out = int(re.search(r"(\d+) compound rows left out", " ".join(info.notes)).group(1))
    elemental = int((matbench["elements"].map(len) == 1).sum())
    assert info.n_compounds + left_out + elemental == len(matbench) == 132_752 and info.n_skipped == 0

    kznf3 = _energies(reference, "F-K-Zn")["KZnF3"]
    high, known = place_on_hull(
        [("srtio3", Composition("SrTiO3"), -3.0), ("kznf3", Composition("K2Zn2F6"), kznf3)], reference, config
    )
    assert high.e_above_hull == pytest.approx(-3.0 + 3.569174561083332) and not high.on_hull
    assert [p.formula for p in high.decomposition] == ["SrTiO3"] and high.completeness.complete
    assert known.on_hull and known.e_above_hull == pytest.approx(0.0, abs=1e-9)
    assert not high.implausibly_stable and not known.implausibly_stable

    total = HullConfig(footing="total_energy")
    candidates_only = load_reference(total, systems=[{"Sr", "Ti", "O"}, {"K", "Zn", "F"}])
    for system in ("O-Sr-Ti", "O-Sr", "O-Ti", "Sr-Ti", "F-K-Zn", "F-K", "F-Zn", "K-Zn"):
        assert _energies(candidates_only, system) == _energies(reference, system)
    assert _energies(candidates_only, "Cs-O") == {} and _energies(reference, "Cs-O")  # no candidate's system
    assert "rows of the candidates' chemical systems" in candidates_only.description
    assert any(note.startswith("footings differ") for note in candidates_only.notes)


def test_missing_or_foreign_file_fails_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.csv: matbench_mp_e_form file not found"):
        load_reference(HullConfig(dataset_path=tmp_path / "nowhere.csv"))
    path = tmp_path / "gaps.csv"
    path.write_text("formula,gap\nO3Sr1Ti1,3.2\n")
    with pytest.raises(ValueError, match="gaps.csv: not the matbench_mp_e_form layout"):
        load_reference(HullConfig(dataset_path=path))
