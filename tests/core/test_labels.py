"""DFT labels: reading the formats users bring (JSON, CSV of structure files, atomate2/emmet task documents),
keeping them in the store, and clear errors naming the file and row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pymatgen.core import Structure

from smoacs_core.labels.importing import LabelImportError, read_labels
from smoacs_core.store import ResultsStore

REPO = Path(__file__).resolve().parents[2]
VASP_STATIC = REPO.parent / "shared" / "data" / "vasp_reference_outputs" / "Si_band_structure" / "static" / "outputs"


@pytest.fixture(scope="module")
def gpaw_document(gpaw_labels_file) -> dict:
    """The GPAW-checked candidates of the variant benchmark, as exported for import."""
    return json.loads(gpaw_labels_file.read_text())


def test_the_benchmark_gpaw_labels_import_with_their_settings_and_checks(gpaw_document, gpaw_labels_file, tmp_path):
    labels = read_labels(gpaw_labels_file)
    assert len(labels) == len(gpaw_document["labels"]) == 137
    assert {(label.code, label.functional, label.source) for label in labels} == {("GPAW", "PBE", "gpaw_labels.json")}
    assert len({label.group for label in labels}) == 19  # one group per GPAW check of 8
    assert all(label.settings["max_steps"] == 0 and label.settings["ecut"] == 600 for label in labels)
    first = gpaw_document["labels"][0]
    assert labels[0].name == first["name"] and labels[0].band_gap == first["band_gap"]
    assert labels[0].structure == Structure.from_dict(first["structure"])

    store = ResultsStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    assert store.save_labels(labels) == 137
    assert store.save_labels(labels) == 0  # importing again changes nothing
    stored = store.labels(code="GPAW")
    assert [label.label_id for label in stored] == sorted(label.label_id for label in labels)
    read = {label.label_id: label for label in labels}
    assert all(label.structure == read[label.label_id].structure and label.band_gap == read[label.label_id].band_gap
               and label.settings == read[label.label_id].settings for label in stored)
    assert store.labels(code="VASP") == []


def test_a_csv_of_structure_files_with_defaults_from_the_command_line(gpaw_document, tmp_path):
    rows = ["structure_file,band_gap,name"]
    for n, record in enumerate(gpaw_document["labels"][:3]):
        Structure.from_dict(record["structure"]).to(filename=str(tmp_path / f"c{n}.cif"))
        rows.append(f"c{n}.cif,{record['band_gap']},{record['name']}")
    (tmp_path / "gaps.csv").write_text("\n".join(rows) + "\n")
    labels = read_labels(tmp_path / "gaps.csv", {"code": "QE", "functional": "PBE"})
    assert [label.name for label in labels] == [r["name"] for r in gpaw_document["labels"][:3]]
    assert labels[2].band_gap == pytest.approx(gpaw_document["labels"][2]["band_gap"])
    assert labels[0].group == "gaps" and labels[0].label == "QE-PBE"
    assert labels[1].structure.composition == Structure.from_dict(gpaw_document["labels"][1]["structure"]).composition


def test_an_emmet_task_document_of_real_vasp_outputs(tmp_path):
    from emmet.core.tasks import TaskDoc

    document = TaskDoc.from_directory(VASP_STATIC).model_dump(mode="json")
    (tmp_path / "tasks.json").write_text(json.dumps([document]))
    (label,) = read_labels(tmp_path / "tasks.json")
    assert (label.code, label.functional) == ("VASP", "PBE")  # run type GGA
    assert label.band_gap == pytest.approx(0.6172, abs=1e-4)  # silicon, PBE
    assert label.energy_per_atom == pytest.approx(document["output"]["energy_per_atom"])
    assert label.structure.composition.reduced_formula == "Si"
    assert label.settings["incar"]["ENCUT"] == document["input"]["incar"]["ENCUT"]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"band_gap": 1.0}, "no structure"),
        ({"cif": "data_x\n_cell_length_a oops\n", "band_gap": 1.0}, "unreadable structure"),
        ({"structure_file": "missing.cif", "band_gap": 1.0}, "unreadable structure"),
        ({"band_gap": -0.5, "structure": "VALID"}, "band_gap"),
        ({"band_gap": "NaN", "structure": "VALID"}, "band_gap"),
        ({"structure": "VALID"}, "missing band_gap"),
        ({"band_gap": 1.0, "structure": "VALID", "bandgap": 2}, "unknown fields ['bandgap']"),
    ],
)
def test_a_bad_record_names_the_file_and_row(gpaw_document, tmp_path, record, message):
    valid = gpaw_document["labels"][0]["structure"]
    record = {k: (valid if v == "VALID" else v) for k, v in record.items()}
    good = {"band_gap": 1.0, "structure": valid}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"code": "VASP", "functional": "PBE", "labels": [good, record]}))
    with pytest.raises(LabelImportError, match=rf"mine.json, row 1: .*{message.replace('[', '.').replace(']', '.')}"):
        read_labels(path)


def test_a_file_without_code_or_functional_asks_for_them(gpaw_document, tmp_path):
    path = tmp_path / "bare.json"
    path.write_text(json.dumps([{"band_gap": 1.0, "structure": gpaw_document["labels"][0]["structure"]}]))
    with pytest.raises(LabelImportError, match="row 0: missing code, functional"):
        read_labels(path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(LabelImportError, match="broken.json: not readable JSON"):
        read_labels(tmp_path / "broken.json")
