"""The VASP chain run end to end through each backend, against real VASP outputs.

VASP itself is replaced the way atomate2 tests its own flows: ``atomate2.utils.testing.vasp.monkeypatch_vasp``
swaps ``run_vasp`` for a copy of a real reference calculation (after checking INCAR keys, KPOINTS, POSCAR and
POTCAR.spec against that calculation's inputs) and writes POTCAR.spec instead of POTCARs. Everything else is
the real code: atomate2 makers, jobflow, FireWorks (on mongomock), custodian, emmet TaskDocs, pymatgen's
MP2020 scheme. Reference calculations (../shared/data/vasp_reference_outputs, from atomate2's test data):
- Si: Si_mp_gga_relax (MP GGA relax 1, relax 2, static) and Si_band_structure/non-scf_uniform;
- V2O3 (mp-18937, GGA+U): the Materials Project's own relax 1 and relax 2 in mp_phase_diagram_tutorial.
Failures come from real code paths: custodian giving up on a VASP binary that exits without output, a
firework that fizzles on it, deleted folders and LaunchPad workflows.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import atomate2.vasp.jobs.base
import atomate2.vasp.run
import pytest
from monty.serialization import loadfn
from pymatgen.core import Structure
from pymatgen.io.vasp import Outcar, Poscar, Vasprun
from vasp_replay import RELAX_KEYS

from vasp_inputs.results import DftCode
from vasp_inputs.vasp import VaspSettings, harvest_vasp, submit_vasp
from vasp_inputs.vasp.backends import load_launchpad
from vasp_inputs.vasp.makers import BAND_GAP, RELAX_1, RELAX_2, STATIC
from vasp_inputs.vasp.run_flow import main as run_flow_main

REAL_RUN_VASP = atomate2.vasp.run.run_vasp  # before any test replaces it

def _outputs(vasp_ref_dir: Path, case: str) -> tuple[Vasprun, float]:
    """A reference calculation read directly with pymatgen: its vasprun and OUTCAR wall time."""
    folder = vasp_ref_dir / case / "outputs"
    vasprun = Vasprun(folder / "vasprun.xml.gz", parse_potcar_file=False)
    return vasprun, Outcar(folder / "OUTCAR.gz").run_stats["Elapsed time (sec)"]


def _check_si_result(result, vasp_ref_dir: Path) -> None:
    """The numbers of the Si chain are those of the reference outputs (static: energy; non-SCF: gap)."""
    static, static_time = _outputs(vasp_ref_dir, "Si_mp_gga_relax/GGA_Static")
    non_scf, non_scf_time = _outputs(vasp_ref_dir, "Si_band_structure/non-scf_uniform")
    relax_times = [_outputs(vasp_ref_dir, f"Si_mp_gga_relax/GGA_Relax_{i}")[1] for i in (1, 2)]
    gap = non_scf.get_band_structure(efermi="smart").get_band_gap()

    assert (result.status, result.code, result.functional) == ("completed", DftCode.VASP, "PBE")
    assert result.label == "VASP-PBE"
    assert result.energy_per_atom == pytest.approx(-10.84060922 / 2, abs=1e-8)
    assert result.energy_per_atom == pytest.approx(static.final_energy / 2, abs=1e-8)
    # Si has no MP2020 term: corrected and uncorrected agree
    assert result.corrected_energy_per_atom == pytest.approx(result.energy_per_atom, abs=1e-8)
    assert result.band_gap == pytest.approx(0.6503, abs=1e-4) and result.is_gap_direct is False
    assert (result.band_gap, result.is_gap_direct) == (pytest.approx(gap["energy"]), gap["direct"])
    assert result.structure.lattice.abc == pytest.approx(static.final_structure.lattice.abc, abs=1e-6)
    assert result.seconds == pytest.approx(sum(relax_times) + static_time + non_scf_time)
    assert Path(result.directory, "vasprun.xml.gz").is_file() and result.message == ""


def test_local_backend_default_chain_matches_reference_outputs(si_chain, tmp_path, si, vasp_ref_dir):
    settings = VaspSettings(backend="local", vasp_cmd="srun vasp_std")
    [submission] = submit_vasp({"Si": si}, tmp_path / "dft", settings)
    assert (submission.backend, submission.status, submission.code) == ("local", "submitted", DftCode.VASP)
    assert submission.reference == loadfn(Path(submission.directory) / "flow.json").uuid

    [result] = harvest_vasp([submission], settings)
    _check_si_result(result, vasp_ref_dir)
    steps = sorted(Path(submission.directory).glob("job_*"))
    assert len(steps) == 4 and Path(result.directory) in steps
    state = json.loads((Path(submission.directory) / "run_state.json").read_text())
    assert state["state"] == "completed"
    assert harvest_vasp([submission], settings) == [result]  # harvesting again changes nothing


def test_local_double_relax_pbe_u_with_mp2020_corrections(fake_vasp, tmp_path, vasp_ref_dir):
    """V2O3 with MP's own GGA+U relaxations: PBE+U, and the MP2020 correction the Materials Project applies.

    The expected corrected energy comes from MP's task document of the same relaxation
    (MP-example-V-O-phase-diagram.json.gz), corrected by pymatgen independently of our harvest."""
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
    from pymatgen.entries.computed_entries import ComputedEntry

    tutorial = vasp_ref_dir / "mp_phase_diagram_tutorial"
    keys = RELAX_KEYS + ["LDAU", "LDAUU", "LDAUL", "LDAUJ", "ISPIN"]
    fake_vasp(
        {RELAX_1: "mp_phase_diagram_tutorial/MP_GGA_relax_1_mp-18937.json.lzma",
         RELAX_2: "mp_phase_diagram_tutorial/MP_GGA_relax_2_mp-18937.json.lzma"},
        {RELAX_1: {"incar_settings": keys}, RELAX_2: {"incar_settings": keys}},
    )
    relax_1 = loadfn(tutorial / "MP_GGA_relax_1_mp-18937.json.lzma")
    v2o3 = Poscar.from_str(relax_1["inputs"]["POSCAR"]).structure
    settings = VaspSettings(backend="local", workflow="double_relax")
    [result] = harvest_vasp(submit_vasp({"V2O3": v2o3}, tmp_path / "dft", settings), settings)

    with gzip.open(tutorial / "MP-example-V-O-phase-diagram.json.gz", "rt") as handle:
        mp_task = json.load(handle)["mp-18937"]["GGA+U Structure Optimization 2"]
    mp_entry = ComputedEntry.from_dict(mp_task["entry"])
    expected = MaterialsProject2020Compatibility().process_entry(mp_entry, clean=True)

    assert (result.status, result.functional) == ("completed", "PBE+U")
    assert result.energy_per_atom == pytest.approx(-80.34150102 / 10, abs=1e-8)
    assert result.energy_per_atom == pytest.approx(mp_task["output"]["energy"] / 10, abs=1e-8)
    assert result.corrected_energy_per_atom == pytest.approx(expected.energy_per_atom, abs=1e-6)
    assert result.corrected_energy_per_atom == pytest.approx(-9.126350102, abs=1e-6)
    # oxide and V U corrections: -0.687 eV per O, -1.7 eV per V in MP2020
    assert result.corrected_energy_per_atom - result.energy_per_atom == pytest.approx(
        (3 * -0.687 + 2 * -1.7) / 5, abs=0.01)
    assert result.band_gap == pytest.approx(mp_task["output"]["bandgap"], abs=1e-4)
    assert "second relaxation's k-mesh" in result.message
    assert result.structure.composition.reduced_formula == "V2O3"


def test_one_failing_candidate_does_not_stop_the_others(si_chain, tmp_path, si, vasp_ref_dir):
    """Ge fed to the Si replay fails atomate2's input check (its POSCAR is not the reference's); Si, submitted
    in the same call after it, completes with the reference numbers."""
    ge = Structure(si.lattice, ["Ge", "Ge"], si.frac_coords)
    settings = VaspSettings(backend="local")
    broken, fine = harvest_vasp(submit_vasp({"Ge": ge, "Si": si}, tmp_path / "dft", settings), settings)
    assert broken.status == "failed" and broken.energy_per_atom is None
    assert broken.message.startswith("relax_1: ValueError: POSCAR files are inconsistent")
    _check_si_result(fine, vasp_ref_dir)


def test_custodian_failure_is_reported(fake_vasp, monkeypatch, tmp_path, si):
    """Real custodian around a 'VASP' that exits without writing anything: custodian cannot fix that, the
    candidate fails with custodian's own message."""
    fake_vasp({}, {})  # inputs with POTCAR.spec only; VASP itself is the real run_vasp below
    monkeypatch.setattr(atomate2.vasp.jobs.base, "run_vasp", REAL_RUN_VASP)
    settings = VaspSettings(backend="local", workflow="double_relax", vasp_cmd="false",
                            custodian_handlers=["UnconvergedErrorHandler"])
    [submission] = submit_vasp({"Si": si}, tmp_path / "dft", settings)
    [result] = harvest_vasp([submission], settings)
    assert (result.status, result.energy_per_atom, result.band_gap) == ("failed", None, None)
    assert result.message.startswith("relax_1: ValidationError: Validation failed: VasprunXMLValidator")
    custodian_log = json.loads(next(Path(submission.directory).glob("job_*/custodian.json")).read_text())
    assert custodian_log[0]["job"]["vasp_cmd"] == ["false"]
    assert custodian_log[0]["validator"]["@class"] == "VasprunXMLValidator"


def test_write_backend_job_runs_then_harvest(si_chain, tmp_path, si, vasp_ref_dir):
    """What the job script runs on the cluster (run_flow on flow.json), then harvests: completed, written,
    lost. This one keeps its job store as maggma JSON files."""
    settings = VaspSettings(backend="write", job_store="json")
    submissions = submit_vasp({"Si": si, "Si-copy": si, "Si-gone": si}, tmp_path / "dft", settings)
    assert [s.status for s in submissions] == ["written"] * 3
    flow_file = Path(submissions[0].directory) / "flow.json"
    assert f"-m vasp_inputs.vasp.run_flow {flow_file}" in (flow_file.parent / "job.slurm").read_text()

    assert run_flow_main([str(flow_file)]) == 0
    shutil.rmtree(submissions[2].directory)
    done, waiting, gone = harvest_vasp(submissions, settings)
    _check_si_result(done, vasp_ref_dir)
    assert (waiting.status, waiting.message) == ("written", "not started")
    assert gone.status == "lost" and "is gone" in gone.message

    steps = sorted(flow_file.parent.glob("job_*"))
    assert run_flow_main([str(flow_file.parent)]) == 0  # completed chains are not run again
    assert sorted(flow_file.parent.glob("job_*")) == steps
    assert run_flow_main([str(tmp_path / "nowhere")]) == 2

    store_file = flow_file.parent / "jobstore" / "outputs.json"
    assert store_file.is_file()
    complete = store_file.read_text()
    store_file.write_text(complete[: len(complete) // 2])  # as a reader may find it while a job writes
    [unreadable] = harvest_vasp(submissions[:1], settings)
    assert unreadable.status == "written" and unreadable.message.startswith("could not be read this time")
    store_file.write_text(complete)
    assert harvest_vasp(submissions[:1], settings)[0].status == "completed"

    shutil.rmtree(flow_file.parent / "jobstore")  # outputs gone although the run said completed
    assert harvest_vasp(submissions[:1], settings)[0].status == "lost"


def test_write_backend_failed_job(fake_vasp, monkeypatch, tmp_path, si):
    """A job script whose VASP fails: run_flow exits 1, the harvest says failed with custodian's reason."""
    fake_vasp({}, {})
    monkeypatch.setattr(atomate2.vasp.jobs.base, "run_vasp", REAL_RUN_VASP)
    settings = VaspSettings(backend="write", workflow="double_relax", vasp_cmd="false", custodian_handlers=[])
    [submission] = submit_vasp({"Si": si}, tmp_path / "dft", settings)
    assert run_flow_main([str(Path(submission.directory) / "flow.json")]) == 1
    [result] = harvest_vasp([submission], settings)
    assert result.status == "failed" and "VasprunXMLValidator" in result.message


# --- FireWorks ----------------------------------------------------------------------------------------------


@pytest.fixture
def launchpad_file(tmp_path, monkeypatch):
    """A LaunchPad file for FireWorks' mongomock stand-in (MONGOMOCK_SERVERSTORE_FILE names its database)."""
    store_file = tmp_path / "mongomock.json"
    store_file.write_text("{}")
    monkeypatch.setenv("MONGOMOCK_SERVERSTORE_FILE", str(store_file))
    import fireworks.core.launchpad  # chose its client on first import, from the variable conftest sets
    import mongomock_persistence

    if fireworks.core.launchpad.MongoClient is not mongomock_persistence.MongoClient:
        pytest.fail("FireWorks does not use mongomock: tests/conftest.py must set MONGOMOCK_SERVERSTORE_FILE "
                    "before FireWorks is imported")
    from fireworks import LaunchPad

    path = tmp_path / "my_launchpad.yaml"
    LaunchPad(name="smoacs_test").to_file(str(path))
    load_launchpad(VaspSettings(launchpad_file=path)).reset("", require_password=False)
    return path


def _rapidfire(launchpad, where: Path) -> None:
    """What rlaunch/qlaunch do on the cluster: pull fireworks and run them until none is ready."""
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import rapidfire

    where.mkdir(parents=True, exist_ok=True)
    rapidfire(launchpad, FWorker(), m_dir=str(where), strm_lvl="ERROR")


def test_fireworks_backend_completed_failed_lost(si_chain, launchpad_file, monkeypatch, tmp_path, si,
                                                 vasp_ref_dir):
    settings = VaspSettings(backend="fireworks", launchpad_file=launchpad_file)
    launchpad = load_launchpad(settings)
    [submission] = submit_vasp({"Si": si}, tmp_path / "dft", settings)
    assert submission.backend == "fireworks" and submission.status == "submitted"
    workflow = launchpad.get_wf_by_fw_id(int(submission.reference))
    assert sorted(fw.name for fw in workflow.fws) == sorted([RELAX_1, RELAX_2, STATIC, BAND_GAP])
    assert workflow.metadata["smoacs_candidate"] == "Si"
    [waiting] = harvest_vasp([submission], settings)
    assert (waiting.status, waiting.message) == ("submitted", "workflow READY on the LaunchPad")

    _rapidfire(launchpad, tmp_path / "launches")
    assert launchpad.get_wf_by_fw_id(int(submission.reference)).state == "COMPLETED"
    [done] = harvest_vasp([submission], settings)
    _check_si_result(done, vasp_ref_dir)
    assert Path(done.directory).parent == tmp_path / "launches"  # FireWorks' launcher folders

    # a candidate whose VASP exits without output under real custodian: its firework fizzles
    failing = settings.model_copy(
        update={"workflow": "double_relax", "vasp_cmd": "false", "custodian_handlers": []}
    )
    [broken] = submit_vasp({"broken": si}, tmp_path / "dft", failing)
    monkeypatch.setattr(atomate2.vasp.jobs.base, "run_vasp", REAL_RUN_VASP)
    _rapidfire(launchpad, tmp_path / "launches")
    fizzled, again = harvest_vasp([broken, submission], settings)
    assert fizzled.status == "failed"
    assert fizzled.message.startswith(f"{RELAX_1}: ") and "VasprunXMLValidator" in fizzled.message
    assert again.status == "completed"

    shutil.rmtree(broken.directory)  # its LaunchPad record still says FIZZLED
    launchpad.delete_wf(int(submission.reference))
    lost, still_failed = harvest_vasp([submission, broken], settings)
    assert lost.status == "lost" and "not on the LaunchPad" in lost.message
    assert still_failed.status == "failed"
