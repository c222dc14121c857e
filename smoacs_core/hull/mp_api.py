"""The Materials Project as the reference: every GGA/GGA+U entry of the candidates' chemical systems.

Needs three things, checked in this order so that nothing is sent over the network without a key: the key in
the environment variable ``MP_API_KEY`` (never in configuration files, which get logged and committed), a
connection to the API host, and the optional ``mp-api`` package (``pip install mp-api``). The entries come
MP2020-corrected from the Materials Project (thermo type GGA_GGA+U); its own elemental entries define the
elemental energies.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

from smoacs_core.hull.reference import HullReference, assemble_reference

API_KEY_ENV = "MP_API_KEY"
API_HOST = "api.materialsproject.org"
_CONNECT_TIMEOUT = 10.0


def mp_api_reference(systems: Iterable[Iterable[str]]) -> HullReference:
    """Entries of every chemical system in ``systems`` (and their sub-systems), one query per largest system.

    Raises:
        ValueError: no (or a malformed) API key in the environment, or no system to ask about.
        ConnectionError: the API host cannot be reached, or the query fails on the way.
        ImportError: mp-api is not installed.
    """
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise ValueError(
            f"reference 'mp_api': set the environment variable {API_KEY_ENV} to your Materials Project API "
            "key (https://next-gen.materialsproject.org/api); it is never read from configuration files"
        )
    wanted = {frozenset(system) for system in systems if system}
    largest = sorted(
        (sorted(system) for system in wanted if not any(system < other for other in wanted)),
        key=lambda s: "-".join(s),
    )
    if not largest:
        raise ValueError("reference 'mp_api': no chemical system to ask the Materials Project about")
    try:
        socket.create_connection((API_HOST, 443), timeout=_CONNECT_TIMEOUT).close()
    except OSError as error:
        raise ConnectionError(
            f"reference 'mp_api': cannot reach {API_HOST} ({error}); without internet use reference 'local' "
            "or an entries file"
        ) from error
    try:
        from mp_api.client import MPRester
    except ImportError as error:
        raise ImportError("reference 'mp_api' needs the mp-api package: pip install mp-api") from error
    entries: dict[str, object] = {}
    try:
        with MPRester(key) as rester:
            version = rester.get_database_version()
            for system in largest:
                for entry in rester.get_entries_in_chemsys(
                    system, additional_criteria={"thermo_types": ["GGA_GGA+U"]}
                ):
                    entries[str(entry.entry_id)] = entry
    except ValueError as error:  # e.g. a key of the wrong length
        raise ValueError(f"reference 'mp_api': {error}") from error
    except Exception as error:  # MPRestError, requests' connection errors, timeouts
        raise ConnectionError(
            f"reference 'mp_api': the Materials Project query failed ({type(error).__name__}: {error})"
        ) from error
    systems_asked = ", ".join("-".join(system) for system in largest)
    return assemble_reference(
        "mp_api",
        f"Materials Project {version}: {len(entries)} GGA/GGA+U entries in {systems_asked}",
        "MP2020 (applied by the Materials Project)",
        [f"https://{API_HOST} (database {version}, thermo type GGA_GGA+U)"],
        list(entries.values()),
    )
