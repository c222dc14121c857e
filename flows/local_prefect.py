"""Running a flow in this process on a temporary Prefect server, as `smoacs run` does without PREFECT_API_URL.

Prefect's ephemeral mode starts a server subprocess and gives it 20 s to answer. On a new ``PREFECT_HOME`` (a
fresh machine, every CI job, every test) that server first creates and migrates its SQLite database, which on a
busy login node or CI machine takes longer: the first `smoacs run` failed before its flow began. The limit here
covers a first migration on a loaded node; a user's own ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``
wins, and if the server still does not answer the error names the remedies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

EPHEMERAL_STARTUP_SECONDS = 180
STARTUP_TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
_PREFECT_TIMEOUT_MESSAGE = "attempting to connect to ephemeral Prefect API server"


class PrefectServerError(RuntimeError):
    """The temporary Prefect server did not start; no flow ran, nothing was lost."""


@contextmanager
def local_prefect() -> Iterator[None]:
    """Settings for flows called in this process: no analytics (offline clusters), a start-up limit for the
    temporary server that fits a first database migration, and a clear error when it still fails."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

    limit = {} if STARTUP_TIMEOUT_VARIABLE in os.environ else {
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: EPHEMERAL_STARTUP_SECONDS
    }
    with temporary_settings(limit):
        seconds = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        try:
            yield
        except RuntimeError as error:
            if _PREFECT_TIMEOUT_MESSAGE not in str(error):
                raise
            raise PrefectServerError(
                f"the temporary Prefect server did not answer within {seconds} s (its first start on a new "
                f"PREFECT_HOME sets up a database; a busy machine slows that). Run against a standing server "
                f"(`prefect server start`, then PREFECT_API_URL=http://127.0.0.1:4200/api), or allow more time "
                f"with {STARTUP_TIMEOUT_VARIABLE}. Prefect said: {str(error)[:500]}"
            ) from error
