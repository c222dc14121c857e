"""Data sources on the real subsets in ../shared/data; the MEGNet loader on files in its published layout."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request

import pandas as pd
import pytest
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Lattice, Structure

from megnet_layout import megnet_records, write_megnet
from smoacs_core.data import json_stream, sources
from smoacs_core.data.cif import header_composition
from smoacs_core.data.entries import ReferenceEntry, SkippedEntry
from smoacs_core.data.sources import (
    MEGNET_URL,
    DirectorySource,
    MegnetJsonSource,
    Mp20CsvSource,
    Perov5CsvSource,
    PerovskiteTemplateSource,
)
from smoacs_core.reference import ReferenceSet, known_formulas
from smoacs_core.settings import SmoacsSettings


@pytest.fixture
def settings(data_dir, tmp_path) -> SmoacsSettings:
    return SmoacsSettings(data_dir=data_dir, cache_dir=tmp_path / "cache")


def test_mp20_rows_become_entries_with_their_properties(settings, data_dir, mp20_rows):
    source = Mp20CsvSource(splits=("test",))
    entries = list(source.iter_entries(settings))
    assert source.files(settings) == [data_dir / "mp_20_subset" / "test.csv"]
    assert [e.id for e in entries] == mp20_rows["material_id"].tolist()
    first, row = entries[0], mp20_rows.iloc[0]
    assert first.formula == row["pretty_formula"] and first.source == "mp20"
    assert first.formation_energy_per_atom == pytest.approx(row["formation_energy_per_atom"])
    assert first.band_gap == pytest.approx(row["band_gap"])
    assert first.extra["e_above_hull"] == pytest.approx(row["e_above_hull"])
    assert first.structure == Structure.from_str(row["cif"], fmt="cif")


def test_cif_header_gives_the_parsed_composition_on_every_real_row(settings):
    """The premise of the cheap filters: the header composition is the cell's, never wrong, on real data."""
    records = list(Mp20CsvSource().iter_records(settings))
    assert len(records) == 847 + 123 + 142
    for record in records:
        assert record.composition == record.read().composition, record.id


def test_perov5_maps_castelli_properties_and_reads_the_splits_present(settings, data_dir):
    source = Perov5CsvSource()
    assert source.files(settings) == [data_dir / "perov_5" / "val.csv", data_dir / "perov_5" / "test.csv"]
    record = next(source.iter_records(settings))
    row = pd.read_csv(data_dir / "perov_5" / "val.csv", nrows=1).iloc[0]
    assert record.id == str(row["material_id"])
    assert record.formation_energy_per_atom == pytest.approx(row["heat_ref"])
    assert record.band_gap == pytest.approx(row["ind_gap"])
    assert record.extra == {
        "split": "val",
        "heat_all": pytest.approx(row["heat_all"]),
        "dir_gap": row["dir_gap"],
    }
    assert record.composition.num_atoms == 5
    with pytest.raises(FileNotFoundError, match="train.csv"):
        Perov5CsvSource(splits=("train",)).files(settings)


def test_csv_in_another_layout_is_named(tmp_path, settings, mp20_rows):
    wrong = tmp_path / "wrong.csv"
    mp20_rows.drop(columns=["band_gap"]).to_csv(wrong, index=False)
    with pytest.raises(ValueError, match=r"wrong.csv.*band_gap"):
        list(Mp20CsvSource(path=wrong).iter_records(settings))


@pytest.mark.parametrize("name", ["mp.2018.6.1.json", "mp.2018.6.1.json.zip"])
def test_megnet_layout_is_read_from_json_and_published_zip(tmp_path, mp20_rows, name):
    rows = mp20_rows.head(20)
    path = write_megnet(megnet_records(rows), tmp_path / name)
    entries = list(MegnetJsonSource(path=path).iter_entries())
    assert [e.id for e in entries] == rows["material_id"].tolist()
    assert all(isinstance(e, ReferenceEntry) and e.source == "megnet" for e in entries)
    assert [e.band_gap for e in entries] == pytest.approx(rows["band_gap"].tolist())
    assert entries[3].structure == Structure.from_str(rows["cif"].iloc[3], fmt="cif")


def test_megnet_found_in_data_dir_before_any_download(tmp_path, mp20_rows, monkeypatch):
    (tmp_path / "megnet").mkdir()
    write_megnet(megnet_records(mp20_rows.head(3)), tmp_path / "megnet" / "mp.2018.6.1.json.zip")
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    settings = SmoacsSettings(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert len(list(MegnetJsonSource().iter_records(settings))) == 3


def _no_network(*args, **kwargs):
    raise urllib.error.URLError("Temporary failure in name resolution")


def test_megnet_offline_is_a_clear_connection_error(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    settings = SmoacsSettings(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(ConnectionError, match="figshare.com.*SMOACS_DATA_DIR"):
        list(MegnetJsonSource().iter_records(settings))
    assert (
        list((tmp_path / "cache" / "data").iterdir()) == []
    )  # no partial file left to be mistaken for the data


def test_megnet_download_goes_to_the_cache_once(tmp_path, mp20_rows, monkeypatch):
    archive = write_megnet(megnet_records(mp20_rows.head(4)), tmp_path / "published.zip").read_bytes()
    requested = []

    def fake_urlopen(url, timeout):
        requested.append(url)
        return io.BytesIO(archive)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    settings = SmoacsSettings(data_dir=None, cache_dir=tmp_path / "cache")
    assert len(list(MegnetJsonSource().iter_records(settings))) == 4
    assert len(list(MegnetJsonSource().iter_records(settings))) == 4
    assert requested == [MEGNET_URL]
    assert (tmp_path / "cache" / "data" / "mp.2018.6.1.json.zip").read_bytes() == archive


def test_json_stream_across_chunk_boundaries(monkeypatch, mp20_rows):
    monkeypatch.setattr(json_stream, "_CHUNK", 97)
    records = megnet_records(mp20_rows.head(5))
    text = json.dumps(records, indent=2)
    assert list(json_stream.iter_json_array(io.StringIO(text), "x")) == records
    with pytest.raises(ValueError, match="truncated.json: invalid or truncated"):
        list(json_stream.iter_json_array(io.StringIO(text[: len(text) // 2]), "truncated.json"))


def test_bad_rows_are_skipped_with_reasons_not_raised(tmp_path, mp20_rows):
    records = megnet_records(mp20_rows.head(3))
    records[0]["structure"] = "data_broken\n_cell_length_a 3.9\nthis is not a CIF loop\n"
    records[1]["band_gap"] = None
    records.append("not an object")
    items = list(MegnetJsonSource(path=write_megnet(records, tmp_path / "m.json")).iter_entries())
    skipped = [i for i in items if isinstance(i, SkippedEntry)]
    assert [(s.id, s.category) for s in skipped] == [
        (records[0]["material_id"], "unreadable"),
        (records[1]["material_id"], "missing_property"),
        ("m.json[3]", "unreadable"),
    ]
    assert "band_gap is missing" in skipped[1].reason
    assert isinstance(items[2], ReferenceEntry)


def test_directory_of_user_files_skips_the_unreadable_one(tmp_path, srtio3, mp20_rows):
    srtio3.to(filename=str(tmp_path / "POSCAR"))
    (tmp_path / "gate.cif").write_text(mp20_rows["cif"].iloc[0])
    (tmp_path / "broken.cif").write_text("data_broken\n_cell_length_a 3.9\nthis is not a CIF loop\n")
    (tmp_path / "notes.txt").write_text("not a structure")
    items = list(DirectorySource(path=tmp_path).iter_entries())
    assert [(type(i).__name__, i.id) for i in items] == [
        ("ReferenceEntry", "POSCAR"),
        ("SkippedEntry", "broken"),
        ("ReferenceEntry", "gate"),
    ]
    assert "broken.cif" in items[1].reason and items[0].formation_energy_per_atom is None
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        list(DirectorySource(path=tmp_path / "nothing-here").iter_records())


@pytest.mark.parametrize(
    ("repeat", "sites", "lengths"), [(1, 5, (2, 10)), (2, 40, (4, 20)), (3, 135, (6, 30))]
)
def test_perovskite_templates_unit_and_supercells(repeat, sites, lengths):
    entries = list(PerovskiteTemplateSource(repeat=repeat, count=3, seed=1).iter_entries())
    assert len(entries) == 3 and all(len(e.structure) == sites for e in entries)
    assert all(lengths[0] <= a <= lengths[1] for e in entries for a in e.structure.lattice.abc)
    assert entries[0].id.endswith("template-0") and entries[0].extra == {"repeat": repeat}


def test_reference_set_answers_known_composition_and_structure(settings, data_dir, mp20_rows, srtio3):
    reference = ReferenceSet.from_source(Mp20CsvSource(), settings)
    assert len(reference) == 847 + 123 + 142
    assert reference.formulas == known_formulas(data_dir / "mp_20_subset")  # the CSV-formula reading agrees
    row = mp20_rows.iloc[0]
    known = Structure.from_str(row["cif"], fmt="cif")
    assert reference.is_known_composition(row["pretty_formula"]) and reference.is_known_composition(known)
    moved = known.copy()
    moved.perturb(0.02)
    moved.make_supercell([1, 1, 2])
    assert reference.known_structure_id(moved) == row["material_id"]
    squeezed = Structure(Lattice.tetragonal(3.9, 7.0), srtio3.species, srtio3.frac_coords)
    assert not reference.is_known_composition("Sr3Ti7O2") and not reference.is_known_structure(squeezed)


def test_reference_set_reads_compositions_without_parsing(tmp_path, mp20_rows, monkeypatch):
    path = write_megnet(megnet_records(mp20_rows), tmp_path / "mp.2018.6.1.json")
    parsed = []
    real_parse = sources.parse_cif
    monkeypatch.setattr(sources, "parse_cif", lambda cif: parsed.append(cif) or real_parse(cif))
    reference = ReferenceSet.from_source(MegnetJsonSource(path=path))
    assert len(reference) == len(mp20_rows) and parsed == []
    formula = mp20_rows["pretty_formula"].iloc[0]
    reference.is_known_structure(Structure.from_str(mp20_rows["cif"].iloc[0], fmt="cif"))
    assert len(parsed) == (mp20_rows["pretty_formula"] == formula).sum()  # only that formula's entries


def test_reference_set_hull_entries_from_known_formation_energies(settings):
    reference = ReferenceSet.from_source(Mp20CsvSource(), settings)
    entries = reference.hull_entries(["Ga", "Te"])
    names = {e.name for e in entries}
    assert {"Ga (elemental reference)", "Te (elemental reference)", "mp-10009"} <= names
    gate = next(e for e in entries if e.name == "mp-10009")
    assert gate.energy_per_atom == pytest.approx(-0.5750923537499997)
    diagram = PhaseDiagram(entries)
    assert all(diagram.get_e_above_hull(e) >= -1e-9 for e in entries)


def test_reference_set_from_entries_in_hand(srtio3):
    entry = ReferenceEntry(id="sto", source="mine", structure=srtio3, formation_energy_per_atom=-3.5)
    skipped = SkippedEntry(id="s", source="mine", category="unreadable", reason="no CIF text")
    reference = ReferenceSet([entry, skipped])
    assert reference.known_structure_id(srtio3) == "sto" and reference.skipped == [skipped]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # spglib, through CifWriter(symprec=...)
def test_header_composition_only_where_it_can_be_trusted(srtio3):
    from pymatgen.io.cif import CifWriter

    assert header_composition(str(CifWriter(srtio3))) == srtio3.composition
    assert (
        header_composition(str(CifWriter(srtio3, symprec=0.01))) is None
    )  # Pm-3m: the sum counts formula units
    disordered = srtio3.copy()
    disordered.replace(0, {"Sr": 0.5, "Ba": 0.5})
    assert header_composition(str(CifWriter(disordered))) is None
