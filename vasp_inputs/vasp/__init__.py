"""VASP side of the DFT stage: atomate2 makers with Materials Project GGA settings, three backends (local,
FireWorks, write-only) and a harvest into ``vasp_inputs.results.DftResult``. See vasp_inputs/README.md.

Public names are imported on first use, so ``python -m vasp_inputs.vasp.run_flow`` on a compute node loads
only what it runs.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "JobScriptSettings": "vasp_inputs.vasp.settings",
    "VaspSettings": "vasp_inputs.vasp.settings",
    "harvest_vasp": "vasp_inputs.vasp.backends",
    "submit_vasp": "vasp_inputs.vasp.backends",
    "vasp_flow": "vasp_inputs.vasp.makers",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vasp_inputs.vasp' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
