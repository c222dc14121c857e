"""The Materials Project input set's Hubbard U and initial magnetic moments, for GPAW.

Nothing here is a hand-typed table: pymatgen's ``MPRelaxSet`` builds the INCAR it would write for the
structure (no POTCARs needed for that) and we read LDAUU / LDAUL / MAGMOM from it. So the anion-class rule
(U only when the most electronegative element is O or F, with that class's values), species-specific moments
('Mn3+' before 'Mn', 0.6 muB for unlisted elements) and site 'magmom' properties behave as in MP's data.

How the numbers transfer to GPAW: U becomes a ``setups={'Fe': ':d,5.3'}`` entry (GPAW's Dudarev DFT+U, the
rotationally invariant form of LDAUTYPE 2), and MAGMOM becomes GPAW's per-atom initial moments. The U values
were fitted for VASP's PAW projectors; GPAW projects onto its own bound d partial waves, so equal U does not
mean identical d occupations. It is the closest GPAW gets to MP's PBE+U, and results say 'PBE+U'.
"""

from __future__ import annotations

import warnings

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure
from pymatgen.io.vasp import Poscar
from pymatgen.io.vasp.sets import BadInputSetWarning, MPRelaxSet

from vasp_inputs.gpaw.settings import SpinPolarization

_ORBITALS = "spdf"


class MpPhysics(BaseModel):
    """Hubbard U and initial moments MPRelaxSet would use for one structure, ready for GPAW."""

    model_config = ConfigDict(frozen=True)

    hubbard_u: dict[str, float] = Field(
        default_factory=dict, description="U_eff (eV) per element with a non-zero U."
    )
    hubbard_l: dict[str, int] = Field(default_factory=dict, description="Angular momentum U acts on.")
    magmoms: list[float] | None = Field(
        default=None, description="Initial moment per site (muB); None: not spin-polarized."
    )

    @property
    def functional(self) -> str:
        """What results are labelled with: 'PBE+U' as soon as one element carries a U."""
        return "PBE+U" if self.hubbard_u else "PBE"

    def gpaw_setups(self) -> dict[str, str]:
        """GPAW's DFT+U syntax, ``{'Ni': ':d,6.2'}``: default PAW setup, U on d, normalized projection."""
        return {el: f":{_ORBITALS[self.hubbard_l[el]]},{u}" for el, u in sorted(self.hubbard_u.items())}


def _mp_incar(structure: Structure) -> dict:
    # sort_structure=False keeps MAGMOM in the candidate's site order; LDAU* follow Poscar.site_symbols,
    # which may then repeat an element (with the same value each time). The input set's warnings concern
    # VASP-only tags (e.g. ISMEAR for metals), not the U or moments read here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadInputSetWarning)
        return dict(MPRelaxSet(structure, sort_structure=False).incar)


def mp_magnetic_elements() -> set[str]:
    """Elements MPRelaxSet gives an explicit initial moment (by element or by species, e.g. 'Mn3+')."""
    keys = MPRelaxSet.CONFIG["INCAR"]["MAGMOM"]
    return {key.rstrip("+-0123456789") for key in keys}


def mp_physics(
    structure: Structure, *, hubbard_u: bool = True, spin: SpinPolarization = "mp"
) -> MpPhysics:
    """Hubbard U and initial moments for ``structure`` as MPRelaxSet sets them, under our switches."""
    incar = _mp_incar(structure)
    u_values: dict[str, float] = {}
    l_values: dict[str, int] = {}
    if hubbard_u and incar.get("LDAU"):
        symbols = Poscar(structure).site_symbols
        for symbol, u, l_value in zip(symbols, incar["LDAUU"], incar["LDAUL"], strict=True):
            if u > 0:
                u_values[symbol] = float(u)
                l_values[symbol] = int(l_value)
    magmoms: list[float] | None = [float(m) for m in incar["MAGMOM"]]
    if spin == "off" or incar.get("ISPIN", 1) != 2:
        magmoms = None
    elif spin == "magnetic":
        present = {el.symbol for el in structure.composition.elements}
        if not present & mp_magnetic_elements():
            magmoms = None
    return MpPhysics(hubbard_u=u_values, hubbard_l=l_values, magmoms=magmoms)
