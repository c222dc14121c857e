"""VASP replayed from real reference calculations, the way atomate2 tests its own flows (a pytest plugin).

``atomate2.utils.testing.vasp.monkeypatch_vasp`` swaps ``run_vasp`` for a copy of a real reference calculation
(after checking INCAR keys, KPOINTS, POSCAR and POTCAR.spec against that calculation's inputs). The reference
calculations are atomate2's test data in ../shared/data/vasp_reference_outputs (SMOACS_DATA_DIR).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from atomate2.utils.testing.vasp import monkeypatch_vasp
from pymatgen.core import Structure

from vasp_inputs.vasp.makers import BAND_GAP, RELAX_1, RELAX_2, STATIC

RELAX_KEYS = ["ENCUT", "ISIF", "IBRION", "NSW", "EDIFF", "ISMEAR", "SIGMA", "PREC", "ALGO", "LREAL", "LASPH"]
STATIC_KEYS = ["ENCUT", "NSW", "ISMEAR", "SIGMA", "EDIFF", "LCHARG", "LREAL", "PREC", "ALGO"]
NON_SCF_KEYS = ["ICHARG", "ISMEAR", "ISYM", "NSW", "LCHARG", "LWAVE", "LORBIT"]


@pytest.fixture(scope="module")
def vasp_ref_dir(data_dir) -> Path:
    path = data_dir / "vasp_reference_outputs"
    if not path.is_dir():
        pytest.fail(f"{path} is missing: set SMOACS_DATA_DIR to the shared data directory")
    return path


@pytest.fixture(scope="module")
def si(vasp_ref_dir) -> Structure:
    return Structure.from_file(vasp_ref_dir / "Si_mp_gga_relax" / "GGA_Relax_1" / "inputs" / "POSCAR.gz")


@pytest.fixture
def no_potcar_library(monkeypatch):
    """The machine has no POTCARs: inputs must come with POTCAR.spec."""
    from pymatgen.core import SETTINGS

    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    monkeypatch.delitem(SETTINGS, "PMG_VASP_PSP_DIR", raising=False)


@pytest.fixture
def fake_vasp(monkeypatch, vasp_ref_dir, tmp_path):
    """atomate2's VASP replay; every test runs in its own folder."""
    monkeypatch.chdir(tmp_path)
    yield from monkeypatch_vasp(monkeypatch, vasp_ref_dir)


@pytest.fixture
def si_chain(fake_vasp, vasp_ref_dir, tmp_path):
    """Replay the default chain for Si: MP GGA relax 1/2 and static, then the uniform non-SCF run.

    The shipped static lacks its CHGCAR (a multi-MB file, see ABSENT.txt), which the non-SCF step copies. Its
    reference folder is therefore the real static outputs plus the CHGCAR that VASP wrote in the second
    relaxation (an empty file: MP relaxations do not write the charge density). The non-SCF reference comes
    from a different atomate2 test case whose Si cell uses another origin, so its POSCAR is not compared.
    """
    static = tmp_path / "references" / "GGA_Static"
    shutil.copytree(vasp_ref_dir / "Si_mp_gga_relax" / "GGA_Static", static)
    shutil.copy(vasp_ref_dir / "Si_mp_gga_relax" / "GGA_Relax_2" / "outputs" / "CHGCAR", static / "outputs")
    fake_vasp(
        {RELAX_1: "Si_mp_gga_relax/GGA_Relax_1", RELAX_2: "Si_mp_gga_relax/GGA_Relax_2", STATIC: static,
         BAND_GAP: "Si_band_structure/non-scf_uniform"},
        {RELAX_1: {"incar_settings": RELAX_KEYS}, RELAX_2: {"incar_settings": RELAX_KEYS},
         STATIC: {"incar_settings": STATIC_KEYS},
         BAND_GAP: {"incar_settings": NON_SCF_KEYS, "check_inputs": ["incar", "kpoints", "potcar"]}},
    )
