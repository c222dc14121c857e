"""Convex hull on real data: the Materials Project V-O example (task documents), MP-20 formation energies, the
MP elemental references; footings, corrections, decompositions, completeness warnings, errors, plots. (The
default local reference, Matbench's formation energies, is tested in test_hull_matbench.py.)"""

from __future__ import annotations

import ast
import gzip
import json
import logging
import socket

import pandas as pd
import pytest
from pymatgen.core import Composition, Structure

from smoacs_core.hull.config import HullConfig
from smoacs_core.hull.placement import place_on_hull
from smoacs_core.hull.reference import load_reference
from smoacs_core.hull.report import rank_candidates, write_hull

VO_EXAMPLE = "vasp_reference_outputs/mp_phase_diagram_tutorial/MP-example-V-O-phase-diagram.json.gz"
# MP2020 constants (pymatgen MP2020Compatibility.yaml): oxide anion correction per O, GGA/GGA+U mixing per V
OXIDE, V_MIXING = -0.687, -1.7
MP20 = HullConfig(dataset="mp20", task_documents=True)
"""The local reference of MP-20's 1,112 rows, the elemental references and the V-O task documents."""


@pytest.fixture(scope="module")
def vo_file(data_dir):
    return data_dir / VO_EXAMPLE


@pytest.fixture(scope="module")
def vo_documents(vo_file):
    with gzip.open(vo_file, "rt") as stream:
        return json.load(stream)


@pytest.fixture(scope="module")
def vo_config(vo_file):
    return HullConfig(reference="entries_file", entries_file=vo_file)


@pytest.fixture(scope="module")
def vo_reference(vo_config):
    return load_reference(vo_config)


@pytest.fixture(scope="module")
def mp20_reference():
    return load_reference(MP20)


@pytest.fixture(scope="module")
def mp20(data_dir):
    return pd.concat(
        pd.read_csv(data_dir / "mp_20_subset" / f"{split}.csv") for split in ("train", "val", "test")
    )


def _energy(documents, material, label):
    return documents[material][label]["entry"]["energy"]


def _by_formula(reference, elements):
    return {e.name: e for e in reference.entries_in(elements)}


def test_vo_task_documents_become_mp2020_formation_energies(vo_reference, vo_documents):
    """GGA/GGA+U statics are kept (r2SCAN, PBEsol are not MP2020's), corrected, measured from the elements."""
    entries = _by_formula(vo_reference, ["V", "O"])
    assert sorted(entries) == ["O", "V", "V2O3", "VO2"]
    assert entries["V2O3"].attribute == "mp-18937" and entries["VO2"].attribute == "mp-541404"
    assert len(vo_reference.skipped) == 12 and all(
        "invalid run type" in reason for _, reason in vo_reference.skipped
    )
    mu_v = _energy(vo_documents, "mp-146", "GGA Static")
    mu_o = _energy(vo_documents, "mp-12957", "GGA Static") / 8
    by_hand = (
        _energy(vo_documents, "mp-18937", "GGA+U Static") + 6 * OXIDE + 4 * V_MIXING - 4 * mu_v - 6 * mu_o
    ) / 10
    assert entries["V2O3"].energy_per_atom == pytest.approx(by_hand, abs=1e-9)
    assert by_hand == pytest.approx(-2.524, abs=1e-3)
    assert vo_reference.elemental_energies["V"] == mu_v and vo_reference.elemental_energies["O"] == mu_o
    assert "mp_elemental_refs" in vo_reference.sources[1]  # fallback for elements the file lacks


def test_vo_candidates_decompose_into_their_neighbours(vo_reference, vo_config):
    entries = _by_formula(vo_reference, ["V", "O"])
    v2o3, vo2 = entries["V2O3"].energy_per_atom, entries["VO2"].energy_per_atom
    v3o5, v3o7 = place_on_hull(
        [("a", Composition("V3O5"), -2.3), ("b", Composition("V3O7"), -1.0)], vo_reference, vo_config
    )
    assert {(p.formula, p.id): pytest.approx(p.fraction) for p in v3o5.decomposition} == {
        ("V2O3", "mp-18937"): 5 / 8,
        ("VO2", "mp-541404"): 3 / 8,
    }
    assert v3o5.e_above_hull == pytest.approx(-2.3 - (5 * v2o3 + 3 * vo2) / 8)
    assert v3o5.on_hull is False and v3o5.completeness.complete and not v3o5.warnings
    assert {p.formula: pytest.approx(p.fraction) for p in v3o7.decomposition} == {"VO2": 0.9, "O": 0.1}
    assert v3o7.e_above_hull == pytest.approx(-1.0 - 0.9 * vo2)
    assert v3o5.reference.name == "entries_file" and v3o5.footing == "formation_energy"


def test_deep_below_the_known_hull_is_flagged_not_celebrated(vo_reference, vo_config):
    """0.05 eV/atom below a well-sampled hull can be a new phase; 0.3 is far more likely a predictor error."""
    entries = _by_formula(vo_reference, ["V", "O"])
    hull = (5 * entries["V2O3"].energy_per_atom + 3 * entries["VO2"].energy_per_atom) / 8
    slightly, deeply = place_on_hull(
        [("slightly", Composition("V3O5"), hull - 0.05), ("deeply", Composition("V3O5"), hull - 0.3)],
        vo_reference,
        vo_config,
    )
    assert slightly.on_hull and not slightly.implausibly_stable and not slightly.warnings
    assert deeply.on_hull and deeply.implausibly_stable
    assert deeply.warnings == [
        "0.300 eV/atom below the known hull: more likely a predictor error or a gap in the reference than a new "
        "stable phase"
    ]
    strict = place_on_hull([("x", Composition("V3O5"), hull - 0.05)], vo_reference,
                           vo_config.model_copy(update={"implausible_below_hull": 0.01}))
    assert strict[0].implausibly_stable


def test_total_energies_get_the_references_corrections(vo_reference, vo_file, vo_documents):
    """A raw GGA+U energy of V2O3 (as an ML potential trained on MP gives it) lands on the reference V2O3."""
    config = HullConfig(reference="entries_file", entries_file=vo_file, footing="total_energy")
    relaxed = vo_documents["mp-18937"]["GGA+U Structure Optimization 2"]
    energy = relaxed["entry"]["energy"] / 10
    structure = Structure.from_dict(relaxed["output"]["structure"])
    by_composition, by_structure = place_on_hull(
        [("c", Composition("V2O3"), energy), ("s", structure, energy)], vo_reference, config
    )
    expected = energy - _energy(vo_documents, "mp-18937", "GGA+U Static") / 10
    for result in (by_composition, by_structure):
        assert result.e_above_hull == pytest.approx(expected, abs=1e-9)  # -0.5 meV/atom: corrections cancel
        assert result.on_hull and result.footing == "total_energy"
        assert result.formation_energy_per_atom == pytest.approx(
            _by_formula(vo_reference, ["V", "O"])["V2O3"].energy_per_atom + expected, abs=1e-9
        )


def test_mp20_rows_keep_their_stability_against_their_local_reference(mp20_reference, mp20):
    """A subset's hull lies on or above the full Materials Project hull: no row may look less stable than
    MP-20 says, MP-stable rows stay on the hull, and the MP2020-corrected V-O task documents share its
    footing."""
    rows = list(mp20.itertuples())
    results = place_on_hull(
        [(r.material_id, Composition(r.pretty_formula), r.formation_energy_per_atom) for r in rows],
        mp20_reference,
        MP20,
    )
    for row, result in zip(rows, results, strict=True):
        assert result.e_above_hull <= row.e_above_hull + 1e-9, row.material_id
        if row.e_above_hull == 0 and len(Composition(row.pretty_formula)) > 1:
            assert result.on_hull, row.material_id
    vof = next(r for r in results if r.id == "mp-754589")
    assert vof.on_hull and vof.decomposition[0].id == "mp-754589"
    assert {"mp-18937", "mp-541404"} <= {e.attribute for e in mp20_reference.entries_in(["V", "O", "F"])}


def test_made_up_composition_far_above_the_hull(mp20_reference):
    config = MP20
    (v3o7, v2of4) = place_on_hull(
        [("v3o7", Composition("V3O7"), -1.0), ("v2of4", Composition("V2OF4"), -1.5)], mp20_reference, config
    )
    assert v3o7.e_above_hull > 1.0 and not v3o7.on_hull
    assert {(p.formula, p.id): pytest.approx(p.fraction) for p in v3o7.decomposition} == {
        ("VO2", "mp-541404"): 0.9,
        ("O", "elemental reference"): 0.1,
    }
    energies = {e.attribute: e.energy_per_atom for e in mp20_reference.entries_in(["V", "O", "F"])}
    products = sum(
        (Composition(p.formula).fractional_composition * p.fraction for p in v2of4.decomposition),
        Composition(),
    )
    assert products.almost_equals(Composition("V2OF4").fractional_composition)
    assert v2of4.e_above_hull == pytest.approx(
        -1.5 - sum(p.fraction * energies[p.id] for p in v2of4.decomposition)
    )
    assert v2of4.e_above_hull > 1.0


def test_incomplete_reference_is_warned_and_recorded(mp20_reference, mp20, caplog):
    systems = {frozenset(ast.literal_eval(e)) for e in mp20["elements"]}
    caplog.set_level(logging.WARNING, logger="smoacs_core.hull.placement")
    srtio3, po = place_on_hull(
        [("s", Composition("SrTiO3"), -3.0), ("p", Composition("PoO2"), -1.0)], mp20_reference, MP20
    )
    expected = [s for s in ("O-Sr", "O-Ti", "Sr-Ti", "O-Sr-Ti") if frozenset(s.split("-")) not in systems]
    assert srtio3.completeness.missing_subsystems == expected and not srtio3.completeness.complete
    assert "may be underestimated" in srtio3.warnings[0] and "O-Sr-Ti" in caplog.text
    assert po.completeness.missing_elements == ["Po"] and "holds nothing about Po" in po.warnings[0]
    assert srtio3.e_above_hull == pytest.approx(-3.0)  # nothing to compete with: below the elements


def test_formation_energy_csv_as_reference(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text("material_id,formula,formation_energy_per_atom\nx1,V2O3,-2.5\nx2,VO2,-2.4\nx3,O2,0.0\n")
    config = HullConfig(reference="entries_file", entries_file=csv)
    reference = load_reference(config)
    (result,) = place_on_hull([("c", Composition("VOF"), -2.0)], reference, config)
    assert result.completeness.missing_subsystems == ["F-O", "F-V", "F-O-V"]
    assert result.completeness.n_competing_phases == 2 and reference.info().n_compounds == 2
    assert {(p.formula, p.id) for p in result.decomposition} == {
        ("V2O3", "x1"),
        ("V", "elemental reference"),
        ("F", "elemental reference"),
    }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.json", "{not json", "not a readable JSON file"),
        ("numbers.json", '{"a": 1, "b": 2}', "a: expected a ComputedEntry"),
        ("alien.json", '[{"@class": "GibbsComputedStructureEntry", "energy": 1}]', "unsupported class"),
        ("empty.json", "[]", "holds no entries"),
        ("columns.csv", "formula,energy\nV2O3,-2.5\n", "needs a formula column"),
        (
            "formula.csv",
            "formula,formation_energy_per_atom\nV2O3,-2.5\nXq2O,-1\n",
            "row 2 (formula[2]): 'Xq2O' holds Xq0+, not a chemical element",
        ),
        ("energy.csv", "formula,formation_energy_per_atom\nV2O3,low\n", "'low' is not a number"),
        ("entries.txt", "V2O3 -2.5", "expected a .csv, .json or .json.gz"),
    ],
)
def test_bad_entries_file_fails_with_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError) as error:
        load_reference(HullConfig(reference="entries_file", entries_file=path))
    assert name in str(error.value) and message in str(error.value)


def test_missing_entries_file_and_mixed_run_types(tmp_path, vo_file):
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        load_reference(HullConfig(reference="entries_file", entries_file=tmp_path / "nowhere.json"))
    with pytest.raises(ValueError, match="mix run types GGA, GGA\\+U, PBEsol, r2SCAN"):
        load_reference(HullConfig(reference="entries_file", entries_file=vo_file, corrections="none"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reference": "entries_file"}, "entries_file: required"),
        ({"entries_file": "x.json"}, "only read when reference is 'entries_file'"),
        ({"reference": "mp_api", "dataset": "megnet"}, "only used by reference 'local'"),
        ({"corrections": "none"}, "corrects its total energies with MP2020"),
        ({"footing": "enthalpy"}, "footing"),
        ({"on_hull_tolerance": -0.1}, "on_hull_tolerance"),
    ],
)
def test_config_is_validated_up_front(fields, message):
    with pytest.raises(ValueError, match=message):
        HullConfig(**fields)


def test_mp_api_without_key_sends_nothing(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("no network call may be made without an API key")

    monkeypatch.delenv("MP_API_KEY", raising=False)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(ValueError, match="MP_API_KEY"):
        load_reference(HullConfig(reference="mp_api"), systems=[{"V", "O"}])


def test_mp_api_offline_is_a_connection_error(monkeypatch):
    def offline(address, timeout=None):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setenv("MP_API_KEY", "k" * 32)
    monkeypatch.setattr(socket, "create_connection", offline)
    with pytest.raises(ConnectionError, match="cannot reach api.materialsproject.org.*reference 'local'"):
        load_reference(HullConfig(reference="mp_api"), systems=[{"V", "O"}, {"V"}])


def test_ranking_puts_stable_first_then_the_smallest_target_error():
    table = pd.DataFrame(
        {
            "id": list("abcde"),
            "e_above_hull": [0.05, -0.2, -0.01, float("nan"), 0.05],
            "target_error": [0.0, 0.3, -0.1, 0.0, -0.02],
        }
    )
    ranked = rank_candidates(table)
    assert ranked["id"].tolist() == ["c", "b", "a", "e", "d"] and ranked["rank"].tolist() == [1, 2, 3, 4, 5]
    assert rank_candidates(table.drop(columns="target_error"))["id"].tolist() == ["b", "c", "a", "e", "d"]


def test_report_files_and_plots(tmp_path, mp20_reference):
    config = MP20
    results = place_on_hull(
        [
            ("a", Composition("V3O5"), -2.3),
            ("b", Composition("V2OF4"), -2.9),
            ("c", Composition("LiPdClF2"), -1.5),
            ("d", Composition("VO2"), float("nan")),
        ],
        mp20_reference,
        config,
    )
    out = tmp_path / "hull"
    ranked = write_hull(out, results, mp20_reference, config, {"a": 0.2, "b": -0.1}, "band_gap - 1.5")
    assert ranked["id"].tolist() == [
        "b",
        "c",
        "a",
        "d",
    ]  # b below the hull; c has no target error; d not placed
    assert pd.read_csv(out / "hull.csv")["id"].tolist() == ranked["id"].tolist()
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["F-O-V.png", "O-V.png"]
    for plot in (out / "plots").iterdir():
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    report = json.loads((out / "hull.json").read_text())
    assert report["footing"] == "formation_energy" and report["reference"]["name"] == "local"
    assert any(s.endswith("mp_20_subset/train.csv") for s in report["reference"]["sources"])
    assert report["counts"] == {
        "candidates": 4,
        "placed": 3,
        "on_hull": 2,
        "systems": 3,
        "systems_with_incomplete_reference": 2,
    }
    assert report["systems"]["Cl-F-Li-Pd"]["plot"] is None and report["systems"]["O-V"]["complete"] is True
    assert any("not placed: no finite energy" in w for w in report["warnings"])
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_hull(out, results, mp20_reference, config)


def test_megnet_formation_energies_as_local_reference(tmp_path, mp20):
    from megnet_layout import megnet_records, write_megnet

    rows = mp20[mp20["elements"].map(lambda e: set(ast.literal_eval(e)) <= {"V", "O", "F"})]
    path = write_megnet(megnet_records(rows), tmp_path / "mp.2018.6.1.json.zip")
    reference = load_reference(HullConfig(dataset="megnet", dataset_path=path, task_documents=True))
    assert reference.info().description.startswith(f"megnet formation energies ({len(rows)} rows)")
    assert "legacy corrections (before MP2020), Materials Project 2018.6.1" in reference.corrections
    assert any("legacy (pre-2020) corrections, the task documents MP2020" in note for note in reference.notes)
    compounds = rows[rows["elements"].map(lambda e: len(ast.literal_eval(e)) > 1)].reset_index(drop=True)
    reduced = compounds["pretty_formula"].map(lambda f: Composition(f).reduced_formula)
    lowest = compounds.loc[compounds.groupby(reduced)["formation_energy_per_atom"].idxmin(), "material_id"]
    assert {e.attribute for e in reference.entries_in(["V", "O", "F"])} >= set(lowest)


def test_entry_list_with_pdentries(tmp_path, vo_documents):
    """A list of ComputedEntry dicts (MP2020-corrected on reading) and PDEntry dicts (taken as they are)."""
    statics = [dict(vo_documents[m]["GGA Static"]["entry"], entry_id=m) for m in ("mp-146", "mp-12957")]
    statics.append(dict(vo_documents["mp-18937"]["GGA+U Static"]["entry"], entry_id="mp-18937"))
    made_up = {
        "@module": "pymatgen.analysis.phase_diagram",
        "@class": "PDEntry",
        "composition": {"V": 3, "O": 5},
        "energy": -70.0,
        "name": "V3O5",
        "attribute": "mine-1",
    }
    path = tmp_path / "entries.json.gz"
    with gzip.open(path, "wt") as stream:
        json.dump([*statics, made_up], stream)
    reference = load_reference(HullConfig(reference="entries_file", entries_file=path))
    entries = {e.attribute: e.energy_per_atom for e in reference.entries_in(["V", "O"])}
    mu_v, mu_o = statics[0]["energy"], statics[1]["energy"] / 8
    assert entries["mine-1"] == pytest.approx((-70.0 - 3 * mu_v - 5 * mu_o) / 8)
    assert entries["mp-18937"] == pytest.approx(
        (statics[2]["energy"] + 6 * OXIDE + 4 * V_MIXING - 4 * mu_v - 6 * mu_o) / 10
    )


def test_mp_api_queries_each_largest_system_once(monkeypatch, vo_reference, vo_file):
    """With a key and a connection, mp-api is asked once per largest chemical system, and its entries (already
    MP2020-corrected by the Materials Project) are not corrected again. mp-api itself is replaced here: this
    machine has neither the package nor internet."""
    import sys
    import types

    from smoacs_core.hull.entries import apply_corrections, read_entries_json

    corrected, _ = apply_corrections(read_entries_json(vo_file), "MP2020")
    queries = []

    class FakeRester:
        def __init__(self, key):
            assert key == "k" * 32

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def get_database_version(self):
            return "2025.09.25"

        def get_entries_in_chemsys(self, elements, additional_criteria=None):
            queries.append((elements, additional_criteria))
            return corrected

    module = types.ModuleType("mp_api.client")
    module.MPRester = FakeRester
    monkeypatch.setitem(sys.modules, "mp_api", types.ModuleType("mp_api"))
    monkeypatch.setitem(sys.modules, "mp_api.client", module)
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None: socket.socket())
    monkeypatch.setenv("MP_API_KEY", "k" * 32)
    reference = load_reference(HullConfig(reference="mp_api"), systems=[{"V", "O"}, {"V"}, {"O"}])
    assert queries == [(["O", "V"], {"thermo_types": ["GGA_GGA+U"]})]
    expected = {e.attribute: e.energy_per_atom for e in vo_reference.entries_in(["V", "O"])}
    assert {e.attribute: e.energy_per_atom for e in reference.entries_in(["V", "O"])} == pytest.approx(
        expected
    )
    assert "2025.09.25" in reference.sources[0] and reference.info().corrections.startswith("MP2020")
