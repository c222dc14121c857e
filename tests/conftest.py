"""Shared fixtures: real pretrained models and real data from ../shared (override with SMOACS_MODEL_DIR,
SMOACS_MEGNET_KERAS_DIR, SMOACS_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure

pytest_plugins = ["vasp_replay"]  # VASP replayed from real reference calculations (atomate2's test helpers)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
os.environ.setdefault("SMOACS_MODEL_DIR", str(SHARED / "models" / "matgl"))
os.environ.setdefault("SMOACS_MEGNET_KERAS_DIR", str(SHARED / "models" / "megnet_keras"))
os.environ.setdefault("SMOACS_DATA_DIR", str(SHARED / "data"))
os.environ.setdefault("SMOACS_CACHE_DIR", str(REPO / ".pytest_cache" / "smoacs"))
torch.set_num_threads(min(2, os.cpu_count() or 1))

# FireWorks chooses its database client once, on its first import, from MONGOMOCK_SERVERSTORE_FILE: set it before
# any test can import FireWorks, so every LaunchPad in the suite is FireWorks' own mongomock stand-in (no MongoDB
# here), whichever test happens to import FireWorks first. Tests point the variable at their own file.
_MONGOMOCK_FILE = REPO / ".pytest_cache" / "mongomock.json"
_MONGOMOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
_MONGOMOCK_FILE.write_text("{}")
os.environ["MONGOMOCK_SERVERSTORE_FILE"] = str(_MONGOMOCK_FILE)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    path = Path(os.environ["SMOACS_MODEL_DIR"])
    if not path.is_dir():
        pytest.fail(f"model directory {path} is missing: set SMOACS_MODEL_DIR to the matgl checkpoints")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return Path(os.environ["SMOACS_DATA_DIR"])


@pytest.fixture(scope="session")
def predictors(model_dir):
    """The paper's two predictors (MEGNet formation energy, MEGNet PBE band gap), loaded once."""
    from smoacs_core.predictors import load_predictor

    return {name: load_predictor(name) for name in ("megnet-eform", "megnet-bandgap-pbe")}


@pytest.fixture(scope="session")
def mp20_rows(data_dir) -> pd.DataFrame:
    """Real Materials Project rows (MP-20 layout)."""
    return pd.read_csv(data_dir / "mp_20_subset" / "test.csv")


@pytest.fixture
def srtio3() -> Structure:
    return Structure(
        Lattice.cubic(3.905),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the session (PostgreSQL 15 from the machine's packages)."""
    from postgres_server import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for every flow test of the session (Prefect's own test harness)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def gpaw_labels_file() -> Path:
    """The 137 distinct GPAW-checked candidates of the variant benchmark as a labels file (real GPAW-PBE gaps)."""
    return REPO / "benchmarks" / "results" / "gpaw_labels.json"
