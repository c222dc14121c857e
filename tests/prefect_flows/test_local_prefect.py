"""The settings under which `smoacs run` and `smoacs harvest` call flows in their own process."""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

from flows.local_prefect import (
    EPHEMERAL_STARTUP_SECONDS,
    STARTUP_TIMEOUT_VARIABLE,
    PrefectServerError,
    local_prefect,
)


def test_startup_limit_covers_a_first_database_migration(monkeypatch):
    monkeypatch.delenv(STARTUP_TIMEOUT_VARIABLE, raising=False)
    default = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    with local_prefect():
        assert PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value() == EPHEMERAL_STARTUP_SECONDS > default
    assert PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value() == default


def test_other_runtime_errors_pass_through_unchanged():
    with pytest.raises(RuntimeError, match="a flow's own failure") as caught, local_prefect():
        raise RuntimeError("a flow's own failure")
    assert not isinstance(caught.value, PrefectServerError)
