"""Real DFT without VASP: GPAW plane-wave PBE(+U) relaxations and band gaps, with MP's input set physics.

``GpawBackend`` (``pool``) is the entry point, behind the DFT backend interface (``vasp_inputs.backend``):
submit starts a local pool of worker processes, one folder per candidate, harvest reads ``DftResult``s. The
jobflow pieces are in ``jobs`` (``GpawRelaxMaker``, an atomate2 ASE relax maker; ``GpawBandGapMaker``) and
``flows`` (``GpawRelaxBandGapMaker``); MP's U values and moments in ``mp``. Importing this package does not
import GPAW or atomate2.
"""

from vasp_inputs.gpaw.mp import MpPhysics, mp_physics
from vasp_inputs.gpaw.settings import GpawSettings

__all__ = ["GpawSettings", "MpPhysics", "mp_physics"]
