"""VASP inputs of the DFT stage: settings, the atomate2 chain, and what the write backend puts on disk.

Inputs are compared with the real inputs of the Materials Project GGA relaxation of Si that atomate2 ships as
test data (../shared/data/vasp_reference_outputs/Si_mp_gga_relax, see SOURCE.txt there). Running the chain
against the matching real outputs is in test_vasp_backends.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from monty.serialization import loadfn
from pydantic import ValidationError
from pymatgen.core import Structure
from pymatgen.io.vasp import Incar, Kpoints, Poscar

from vasp_inputs.results import DftCode
from vasp_inputs.vasp import JobScriptSettings, VaspSettings, harvest_vasp, submit_vasp, vasp_flow
from vasp_inputs.vasp.makers import BAND_GAP, RELAX_1, RELAX_2, STATIC, relax_input_set

# INCAR tags that define the MP GGA relaxation (the fixture predates later pymatgen defaults, so not all tags)
RELAX_KEYS = ["ENCUT", "ISIF", "IBRION", "NSW", "EDIFF", "ISMEAR", "SIGMA", "PREC", "ALGO", "LREAL", "LASPH",
              "ISPIN", "NELM", "LWAVE", "LORBIT"]


def _jobs(flow):
    """The flow's jobs in the order they run."""
    return [job for job, _parents in flow.iterflow()]


def test_settings_are_validated_up_front(monkeypatch):
    with pytest.raises(ValidationError, match="extra"):
        VaspSettings(encut=520)
    with pytest.raises(ValidationError, match="unknown custodian handler"):
        VaspSettings(custodian_handlers=["VaspErrorHandler", "NoSuchHandler"])
    with pytest.raises(ValidationError, match="H:MM:SS"):
        JobScriptSettings(walltime="2 days")
    with pytest.raises(ValidationError, match="start with '#'"):
        JobScriptSettings(extra_directives=["--qos=long"])
    with pytest.raises(ValidationError):
        VaspSettings(backend="slurm")
    monkeypatch.setenv("VASP_CMD", "srun vasp_std")
    assert VaspSettings().vasp_cmd == "srun vasp_std"
    monkeypatch.delenv("VASP_CMD")
    assert VaspSettings().vasp_cmd is None  # atomate2's ATOMATE2_VASP_CMD decides where the job runs
    assert VaspSettings(incar_updates={"ediffg": -0.05}).incar_updates == {"EDIFFG": -0.05}


def test_chains_are_the_mp_gga_steps(si):
    default = vasp_flow(si, VaspSettings(), "Si")
    assert [job.name for job in _jobs(default)] == [RELAX_1, RELAX_2, STATIC, BAND_GAP]
    assert set(default.output) == {"relax_1", "relax_2", "static", "band_gap"}
    double = vasp_flow(si, VaspSettings(workflow="double_relax"), "Si")
    assert [job.name for job in _jobs(double)] == [RELAX_1, RELAX_2]
    assert "Si" in double.name


def test_overrides_reach_every_step(si):
    settings = VaspSettings(
        incar_updates={"EDIFFG": -0.05, "NCORE": 4}, reciprocal_density=200, band_gap_reciprocal_density=300,
        potcar_updates={"Si": "Si_GW"}, custodian_handlers=["VaspErrorHandler", "UnconvergedErrorHandler"],
        vasp_cmd="mpirun -np 8 vasp_std",
    )
    jobs = _jobs(vasp_flow(si, settings, "Si"))
    for job in jobs:
        generator = job.maker.input_set_generator
        assert generator.user_incar_settings == {"EDIFFG": -0.05, "NCORE": 4}
        assert generator.user_potcar_settings == {"Si": "Si_GW"}
        assert job.maker.run_vasp_kwargs["vasp_cmd"] == "mpirun -np 8 vasp_std"
        assert [type(h).__name__ for h in job.maker.run_vasp_kwargs["handlers"]] == [
            "VaspErrorHandler", "UnconvergedErrorHandler"]
    kpoints = [job.maker.input_set_generator.user_kpoints_settings for job in jobs[:3]]
    assert kpoints == [{"reciprocal_density": 200}] * 3
    assert jobs[3].maker.input_set_generator.reciprocal_density == 300
    # and they show in the files atomate2 writes: a denser mesh than MP's 7x7x7, the tags, the POTCAR
    inputs = relax_input_set(settings).get_input_set(si, potcar_spec=True)
    incar = inputs["INCAR"]
    assert (incar["EDIFFG"], incar["NCORE"], incar["ENCUT"]) == (-0.05, 4, 520)
    assert inputs["KPOINTS"].kpts[0][0] > 7
    assert str(inputs["POTCAR.spec"]).split() == ["Si_GW"]
    # unset overrides leave MP's defaults alone (no custodian/command keys: atomate2's own defaults apply)
    plain = _jobs(vasp_flow(si, VaspSettings(vasp_cmd=None), "Si"))[0]
    assert plain.maker.run_vasp_kwargs == {} and plain.maker.input_set_generator.user_kpoints_settings == {}


def test_write_mode_writes_mp_relax_inputs_and_slurm_script(tmp_path, si, vasp_ref_dir, no_potcar_library):
    options = JobScriptSettings(scheduler="slurm", nodes=2, ntasks_per_node=64, walltime="12:00:00",
                                account="mat123", queue="standard", extra_directives=["#SBATCH --qos=long"],
                                preamble=["module load vasp/6.4.2", "source /opt/envs/smoacs/bin/activate"],
                                python="/opt/envs/smoacs/bin/python")
    settings = VaspSettings(backend="write", job_script=options, vasp_cmd="srun vasp_std")
    submissions = submit_vasp({"Si-1": si}, tmp_path / "dft", settings)

    summary = [(s.candidate, s.status, s.backend, s.code) for s in submissions]
    assert summary == [("Si-1", "written", "write", DftCode.VASP)]
    folder = Path(submissions[0].directory)
    assert folder == (tmp_path / "dft" / "Si-1").resolve()
    reference = vasp_ref_dir / "Si_mp_gga_relax" / "GGA_Relax_1" / "inputs"
    incar, ref_incar = Incar.from_file(folder / "INCAR"), Incar.from_file(reference / "INCAR.gz")
    assert incar["ENCUT"] == 520 and incar["ISIF"] == 3 and incar["IBRION"] == 2 and incar["NSW"] == 99
    assert {k: incar.get(k) for k in RELAX_KEYS} == {k: ref_incar.get(k) for k in RELAX_KEYS}
    kpoints, ref_kpoints = Kpoints.from_file(folder / "KPOINTS"), Kpoints.from_file(reference / "KPOINTS.gz")
    assert (kpoints.style, list(kpoints.kpts[0])) == (ref_kpoints.style, list(ref_kpoints.kpts[0])) == (
        Kpoints.supported_modes.Gamma, [7, 7, 7])
    assert Poscar.from_file(folder / "POSCAR").structure == si
    assert (folder / "POTCAR.spec").read_text().split() == ["Si"] and not (folder / "POTCAR").exists()

    flow = loadfn(folder / "flow.json")  # the chain the job script runs
    assert [job.name for job in _jobs(flow)] == [RELAX_1, RELAX_2, STATIC, BAND_GAP]
    assert flow.jobs[0].jobs[0].maker.run_vasp_kwargs["vasp_cmd"] == "srun vasp_std"

    script = (folder / "job.slurm").read_text()
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    for directive in ["#SBATCH --job-name=smoacs-Si-1", "#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=64",
                      "#SBATCH --time=12:00:00", "#SBATCH --account=mat123", "#SBATCH --partition=standard",
                      "#SBATCH --qos=long"]:
        assert directive in lines
    assert lines.index(f"cd {folder}") < lines.index("module load vasp/6.4.2")  # the preamble runs in there
    assert lines[-1] == f"/opt/envs/smoacs/bin/python -m vasp_inputs.vasp.run_flow {folder / 'flow.json'}"
    last_directive = max(i for i, line in enumerate(lines) if line.startswith("#SBATCH"))
    assert last_directive < lines.index("module load vasp/6.4.2")
    assert os.access(folder / "job.slurm", os.X_OK)
    submit_all = (tmp_path / "dft" / "submit_all.sh").read_text().splitlines()
    assert submit_all[-1] == f"sbatch {folder / 'job.slurm'}"

    [result] = harvest_vasp(submissions, settings)  # nothing ran yet
    assert (result.status, result.energy_per_atom, result.message) == ("written", None, "not started")


def test_write_mode_pbs_script(tmp_path, si, no_potcar_library):
    options = JobScriptSettings(scheduler="pbs", nodes=1, ntasks_per_node=48, walltime="48:00:00",
                                account="chem", queue="workq")
    settings = VaspSettings(backend="write", job_script=options)
    submissions = submit_vasp({"Si": si, "Si b": si}, tmp_path, settings)
    assert [Path(s.directory).name for s in submissions] == ["Si", "Si_b"]  # unsafe characters replaced
    folder = Path(submissions[0].directory)
    lines = (folder / "job.pbs").read_text().splitlines()
    for directive in ["#PBS -N smoacs-Si", "#PBS -l select=1:ncpus=48:mpiprocs=48",
                      "#PBS -l walltime=48:00:00", "#PBS -A chem", "#PBS -q workq", "#PBS -j oe"]:
        assert directive in lines
    assert not any(line.startswith("#SBATCH") for line in lines)
    assert lines[-1] == f"python -m vasp_inputs.vasp.run_flow {folder / 'flow.json'}"
    assert (tmp_path / "submit_all.sh").read_text().splitlines()[-2:] == [
        f"qsub {Path(s.directory) / 'job.pbs'}" for s in submissions]


def test_existing_calculations_are_never_overwritten(tmp_path, si, no_potcar_library):
    settings = VaspSettings(backend="write")
    submit_vasp({"Si": si}, tmp_path, settings)
    before = (tmp_path / "Si" / "flow.json").read_text()
    with pytest.raises(FileExistsError, match="already exist"):
        submit_vasp({"Si": si, "Ge": si}, tmp_path, settings)
    assert (tmp_path / "Si" / "flow.json").read_text() == before and not (tmp_path / "Ge").exists()
    with pytest.raises(ValueError, match="same folder"):
        submit_vasp({"a/b": si, "a_b": si}, tmp_path / "other", settings)


def test_a_candidate_that_cannot_be_written_does_not_stop_the_others(tmp_path, si, no_potcar_library):
    """Polonium has no POTCAR in the MP input set: that candidate fails at submission, with the reason kept
    for the harvest, and the others are written."""
    po = Structure(si.lattice, ["Po", "Si"], si.frac_coords)
    settings = VaspSettings(backend="write")
    submissions = submit_vasp({"PoSi": po, "Si": si}, tmp_path, settings)
    assert [(s.candidate, s.status) for s in submissions] == [("PoSi", "failed"), ("Si", "written")]
    assert not (tmp_path / "PoSi" / "INCAR").exists() and (tmp_path / "Si" / "INCAR").exists()
    assert (tmp_path / "submit_all.sh").read_text().count("sbatch") == 1
    results = harvest_vasp(submissions, settings)
    assert results[0].status == "failed" and results[0].message == "submission: KeyError: 'Po'"
    assert results[1].status == "written"


def test_job_script_runs_the_chain_and_reports_missing_potcars(tmp_path, si, no_potcar_library):
    """The written Slurm script, executed as it is by bash (#SBATCH lines are comments), on a node without a
    POTCAR library: run_flow starts the first step, atomate2 cannot write POTCARs, the job exits 1 and the
    harvest reports the reason. The preamble runs first, in the candidate folder."""
    import subprocess
    import sys

    options = JobScriptSettings(python=sys.executable, preamble=["echo preamble-ran > preamble.txt"])
    settings = VaspSettings(backend="write", job_script=options)
    [submission] = submit_vasp({"Si": si}, tmp_path, settings)
    folder = Path(submission.directory)
    env = {k: v for k, v in os.environ.items() if k != "PMG_VASP_PSP_DIR"}
    env["PMG_CONFIG_FILE"] = str(tmp_path / "no-pmgrc.yaml")  # no user configuration either
    done = subprocess.run(["bash", str(folder / "job.slurm")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert (folder / "preamble.txt").read_text().strip() == "preamble-ran"
    [result] = harvest_vasp([submission], settings)
    assert result.status == "failed"
    assert result.message.startswith("relax_1: PmgVaspPspDirError")
    assert f"{folder}: failed - relax_1: PmgVaspPspDirError" in done.stdout
