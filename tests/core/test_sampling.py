"""Sampling initial structures with the paper's filters, on the real MP-20 and Perov-5 subsets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

from megnet_layout import megnet_records, write_megnet
from smoacs_core.data import sources
from smoacs_core.data.sampling import FILTERS, SampleResult, SamplingConfig, model_elements, sample_structures
from smoacs_core.data.sources import (
    DirectorySource,
    MegnetJsonSource,
    Mp20CsvSource,
    Perov5CsvSource,
    PerovskiteTemplateSource,
)
from smoacs_core.oxidation import is_charge_neutral, oxidation_patterns
from smoacs_core.settings import SmoacsSettings
from smoacs_core.vocabulary import ElementVocabulary

ELEMENTS = model_elements()


@pytest.fixture
def settings(data_dir, tmp_path) -> SmoacsSettings:
    return SmoacsSettings(data_dir=data_dir, cache_dir=tmp_path / "cache")


def _sample(config: SamplingConfig, settings: SmoacsSettings | None = None, **kwargs) -> SampleResult:
    return sample_structures(config, settings, supported_elements=ELEMENTS, **kwargs)


def _accounted(result: SampleResult) -> int:
    report = result.report
    return sum(report.skipped.values()) + sum(report.removed.values()) + report.eligible


def test_paper_filters_on_mp20_and_counts_add_up(settings):
    result = _sample(SamplingConfig(source=Mp20CsvSource()), settings)
    report = result.report
    assert report.read == 847 + 123 + 142 == _accounted(result)
    assert report.removed["max_sites"] > 0 and report.removed["charge_neutral"] > 0
    assert report.chosen == report.eligible == len(result.entries) > 100
    for entry in result.entries:
        assert len(entry.structure) <= 10 and is_charge_neutral(entry.structure), entry.id
        assert oxidation_patterns(entry.structure)


def test_element_and_property_filters(settings):
    config = SamplingConfig(
        source=Mp20CsvSource(),
        include_elements=["O", "Sr", "Ti", "Ba", "Mg", "Zn", "Ca", "Al", "Si", "Li", "Na", "K"],
        exclude_elements=["Li"],
        property_windows={"band_gap": {"min": 1.0, "max": 6.0}, "formation_energy_per_atom": {"max": -1.0}},
    )
    result = _sample(config, settings)
    assert result.report.read == _accounted(result)
    removed = result.report.removed
    assert removed["elements"] > 0 and removed["band_gap"] > 0
    assert result.entries
    for entry in result.entries:
        symbols = {e.symbol for e in entry.structure.composition}
        assert symbols <= set(config.include_elements) and "Li" not in symbols
        assert 1.0 <= entry.band_gap <= 6.0 and entry.formation_energy_per_atom <= -1.0


def test_seeded_draw_of_n(settings):
    config = SamplingConfig(source=Mp20CsvSource(splits=("test",)), n=7, seed=3)
    first, again = _sample(config, settings), _sample(config, settings)
    other = _sample(config.model_copy(update={"seed": 4}), settings)
    assert [e.id for e in first.entries] == [e.id for e in again.entries]
    assert len(first.entries) == first.report.chosen == 7 < first.report.eligible
    assert [e.id for e in other.entries] != [e.id for e in first.entries]
    everything = _sample(config.model_copy(update={"n": 10_000}), settings)
    assert everything.report.chosen == everything.report.eligible


def test_perov5_sampling(settings):
    """The perovskite data: all 5-site cells; neutrality removes most of Castelli's hypothetical ABX3."""
    config = SamplingConfig(source=Perov5CsvSource(splits=("val",)), exclude_elements=["N"], n=20, seed=0)
    result = _sample(config, settings)
    report = result.report
    assert report.read == 3787 == _accounted(result)
    assert report.removed["charge_neutral"] > 1000 and report.removed["max_sites"] == 0
    assert len(result.entries) == 20 and all(len(e.structure) == 5 for e in result.entries)


def test_unusable_entries_are_skipped_with_reasons(tmp_path, mp20_rows):
    """A corrupt CIF, partial occupancies, an element beyond the models' 89 and a missing property."""
    usable = mp20_rows[mp20_rows["material_id"] == "mp-1224282"]  # HfSeS, 3 sites
    records = [megnet_records(usable)[0] for _ in range(5)]
    for number, record in enumerate(records):
        record["material_id"] = f"mvc-{number}"
    records[0]["structure"] = "data_broken\n_cell_length_a 3.9\nthis is not a CIF loop\n"
    disordered = Structure(Lattice.cubic(4.2), [{"Mg": 0.5, "Ca": 0.5}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    records[1]["structure"] = str(CifWriter(disordered))
    radium = Structure(Lattice.cubic(5.1), ["Ra", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    records[2]["structure"] = str(CifWriter(radium))
    records[3]["formation_energy_per_atom"] = None
    path = write_megnet(records, tmp_path / "mp.2018.6.1.json")
    result = _sample(SamplingConfig(source=MegnetJsonSource(path=path), deduplicate=False))
    report = result.report
    assert report.skipped == {
        "unreadable": 1,
        "disordered": 1,
        "missing_property": 1,
        "unsupported_element": 1,
    }
    assert [(s.id, s.category) for s in report.skipped_entries] == [
        ("mvc-0", "unreadable"),
        ("mvc-1", "disordered"),
        ("mvc-2", "unsupported_element"),
        ("mvc-3", "missing_property"),
    ]
    assert "partial occupancies" in report.skipped_entries[1].reason
    assert "Ra not among the 89 elements" in report.skipped_entries[2].reason
    assert "formation_energy_per_atom is missing" in report.skipped_entries[3].reason
    assert [e.id for e in result.entries] == ["mvc-4"] and report.read == 5 == _accounted(result)


def test_cheap_filters_run_before_parsing(tmp_path, mp20_rows, monkeypatch):
    parsed = []
    real_parse = sources.parse_cif
    monkeypatch.setattr(sources, "parse_cif", lambda cif: parsed.append(cif) or real_parse(cif))
    path = write_megnet(megnet_records(mp20_rows), tmp_path / "mp.2018.6.1.json")
    result = _sample(SamplingConfig(source=MegnetJsonSource(path=path), deduplicate=False))
    assert len(parsed) == result.report.eligible < len(mp20_rows) / 2


def test_duplicates_removed_within_a_formula_keeping_the_first(tmp_path, srtio3):
    srtio3.to(filename=str(tmp_path / "a_sto.cif"))
    moved = srtio3.copy()
    moved.perturb(0.01)
    moved.make_supercell([1, 1, 2])
    moved.to(filename=str(tmp_path / "b_sto_supercell.cif"))
    edge_oxygens = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    Structure(srtio3.lattice, srtio3.species, edge_oxygens).to(filename=str(tmp_path / "c_sto_other.cif"))
    Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(
        filename=str(tmp_path / "d_nacl.cif")
    )
    result = _sample(SamplingConfig(source=DirectorySource(path=tmp_path)))
    assert result.report.removed["duplicate"] == 1
    assert [e.id for e in result.entries] == ["a_sto", "c_sto_other", "d_nacl"]


def test_templates_keep_their_size_unless_asked():
    supercells = _sample(SamplingConfig(source=PerovskiteTemplateSource(repeat=3, count=4)))
    assert [len(e.structure) for e in supercells.entries] == [135] * 4
    assert supercells.config.max_sites is None and supercells.config.deduplicate is False
    limited = _sample(SamplingConfig(source=PerovskiteTemplateSource(repeat=2, count=4), max_sites=10))
    assert limited.report.removed["max_sites"] == 4 and not limited.entries


def test_pattern_filter_follows_the_optimizer_vocabulary(settings):
    """With no element taking -3 or -4, nitrides and carbides have no pattern the optimizer can fill."""
    source = Mp20CsvSource()
    vocabulary = ElementVocabulary.build([ELEMENTS], exclude=["N", "P", "As", "Sb", "C", "Si"])
    assert not {-3, -4} & vocabulary.realizable_states()
    default = _sample(SamplingConfig(source=source, require_neutral=False), settings)
    narrow = _sample(SamplingConfig(source=source, require_neutral=False), settings, vocabulary=vocabulary)
    assert narrow.report.removed["oxidation_pattern"] > default.report.removed["oxidation_pattern"]
    assert not {e.id for e in narrow.entries} - {e.id for e in default.entries}


def test_result_round_trips_through_json(settings):
    result = _sample(SamplingConfig(source=Mp20CsvSource(splits=("val",)), n=3), settings)
    again = SampleResult.model_validate_json(result.model_dump_json())
    assert [e.structure for e in again.entries] == [e.structure for e in result.entries]
    assert again.report == result.report and list(again.report.removed) == list(FILTERS)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"source": {"kind": "directory", "path": "."}, "property_windows": {"band_gap": {"max": 1}}},
            "no such property",
        ),
        ({"include_elements": ["Na", "Qq"]}, "Qq"),
        ({"property_windows": {"band_gap": {"min": 3, "max": 1}}}, "above max"),
        ({"property_windows": {"band_gap": {}}}, "min, max or both"),
        ({"source": {"kind": "oqmd"}}, "oqmd"),
        ({"max_site": 10}, "max_site"),
    ],
)
def test_bad_configuration_is_named(fields, message):
    with pytest.raises(ValidationError, match=message):
        SamplingConfig.model_validate(fields)
