"""The results store: SQLite in the results directory by default, PostgreSQL by URL for a group or cluster.

Every write is an upsert on natural keys inside one transaction, so a resumed or repeated task never
duplicates a candidate and a crash never leaves half a batch behind. Passwords never live in configuration:
a URL with a user but no password takes it from the caller (the pipeline reads a Prefect Secret block) or from
``SMOACS_STORE_PASSWORD``; URLs are only ever shown with the password hidden.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure
from sqlalchemy import create_engine, event, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session

from smoacs_core.labels.label import DftLabel
from smoacs_core.store.schema import (
    Base,
    Candidate,
    CriterionRecord,
    DftCalculation,
    DftLabelRecord,
    FileRecord,
    PropertyRecord,
    Run,
    StageStatus,
    StructureRecord,
)

PASSWORD_ENV = "SMOACS_STORE_PASSWORD"
SQLITE_FILE = "smoacs.sqlite"


class StoreError(RuntimeError):
    """The store cannot be used (bad URL, unreachable server); the message hides any password."""


def default_store_url(results_dir: Path) -> str:
    return f"sqlite:///{Path(results_dir).resolve() / SQLITE_FILE}"


def resolve_store_url(url: str, password: str | None = None) -> URL:
    """Parse ``url``; refuse embedded passwords; fill in ``password`` or the one in the environment."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreError(f"store URL '{url}' is not a database URL ({error})") from error
    if parsed.password:
        raise StoreError(
            f"store URL {parsed.render_as_string(hide_password=True)} contains a password; "
            f"put it in the environment variable {PASSWORD_ENV} instead"
        )
    password = password or os.environ.get(PASSWORD_ENV)
    if parsed.username and password:
        parsed = parsed.set(password=password)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


@dataclass(frozen=True)
class PropertyValue:
    stage: str
    name: str
    source: str
    value: float | None
    unit: str = ""


@dataclass(frozen=True)
class CandidateData:
    """Everything known about one candidate after a stage."""

    id: str
    batch: int
    template: str
    formula: str
    stage: str
    success: bool
    structures: Mapping[str, tuple[Structure, str | None]] = field(default_factory=dict)
    """stage -> (structure, CIF path or None)"""
    properties: Sequence[PropertyValue] = ()
    criteria: Mapping[str, bool] = field(default_factory=dict)
    """criteria at ``stage``"""


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


class ResultsStore:
    """Query and write runs and candidates. Create with a SQLAlchemy URL (``sqlite:///...``, ``postgresql://...``)."""

    def __init__(self, url: str, password: str | None = None):
        self.url = resolve_store_url(url, password)
        self.display_url = self.url.render_as_string(hide_password=True)
        if self.url.get_backend_name() == "sqlite" and self.url.database:
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(self.url, pool_pre_ping=True)
        if self.url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            with self.engine.begin() as connection:
                connection.execute(text("SELECT 1"))
            Base.metadata.create_all(self.engine)
        except OperationalError as error:
            raise StoreError(f"cannot reach the results store {self.display_url}: {error.orig}") from None

    def _insert(self, table):
        return (postgresql_insert if self.url.get_backend_name() == "postgresql" else sqlite_insert)(table)

    def _upsert(self, session: Session, model, rows: Iterable[dict]) -> None:
        rows = list(rows)
        if not rows:
            return
        table = model.__table__
        keys = [c.name for c in table.primary_key.columns]
        statement = self._insert(table).values(rows)
        updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys and c.name in rows[0]}
        statement = (
            statement.on_conflict_do_update(index_elements=keys, set_=updates)
            if updates
            else statement.on_conflict_do_nothing(index_elements=keys)
        )
        session.execute(statement)

    def start_run(self, run_id: str, name: str, config: dict, provenance: dict, flow_run_id: str | None = None) -> None:
        """Create the run, or mark an existing one (a resumption) as running again."""
        with Session(self.engine) as session, session.begin():
            self._upsert(
                session,
                Run,
                [{"id": run_id, "name": name, "status": "running", "config": config, "provenance": provenance,
                  "flow_run_id": flow_run_id}],
            )

    def finish_run(self, run_id: str, status: str, summary: dict | None = None) -> None:
        """Set the run's final status (and its summary, if given)."""
        with Session(self.engine) as session, session.begin():
            run = self._existing_run(session, run_id)
            run.status = status
            if summary is not None:
                run.summary = summary

    def save_summary(self, run_id: str, summary: dict) -> None:
        """Replace the run's summary (the report's numbers), leaving its status as it is."""
        with Session(self.engine) as session, session.begin():
            self._existing_run(session, run_id).summary = summary

    def _existing_run(self, session: Session, run_id: str) -> Run:
        run = session.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run '{run_id}' in {self.display_url}")
        return run

    def set_stage(self, run_id: str, stage: str, status: str, message: str = "") -> None:
        with Session(self.engine) as session, session.begin():
            self._upsert(session, StageStatus, [{"run_id": run_id, "stage": stage, "status": status, "message": message}])

    def save_candidates(self, run_id: str, candidates: Sequence[CandidateData]) -> None:
        """Write candidates with their structures, properties and criteria in one transaction."""
        with Session(self.engine) as session, session.begin():
            self._upsert(
                session,
                Candidate,
                [{"id": c.id, "run_id": run_id, "batch": c.batch, "template": c.template, "formula": c.formula,
                  "stage": c.stage, "success": bool(c.success)} for c in candidates],
            )
            self._upsert(
                session,
                StructureRecord,
                [{"candidate_id": c.id, "stage": stage, "formula": s.composition.reduced_formula,
                  "structure": s.as_dict(), "cif_path": path}
                 for c in candidates for stage, (s, path) in c.structures.items()],
            )
            self._upsert(
                session,
                PropertyRecord,
                [{"candidate_id": c.id, "stage": p.stage, "name": p.name, "source": p.source,
                  "value": _finite_or_none(p.value), "unit": p.unit} for c in candidates for p in c.properties],
            )
            self._upsert(
                session,
                CriterionRecord,
                [{"candidate_id": c.id, "stage": c.stage, "name": name, "passed": bool(passed)}
                 for c in candidates for name, passed in c.criteria.items()],
            )

    def save_properties(self, run_id: str, properties: Mapping[str, Sequence[PropertyValue]]) -> None:
        """Add or update property values (candidate id -> values) of existing candidates, in one transaction.

        For stages that measure candidates without changing them (the convex hull): the candidate rows, their
        structures and criteria stay as they are. Raises KeyError naming ids that are not candidates of the run.
        """
        with Session(self.engine) as session, session.begin():
            _check_candidates(session, run_id, properties)
            self._upsert(
                session,
                PropertyRecord,
                [{"candidate_id": candidate_id, "stage": p.stage, "name": p.name, "source": p.source,
                  "value": _finite_or_none(p.value), "unit": p.unit}
                 for candidate_id, values in properties.items() for p in values],
            )

    def save_criteria(self, run_id: str, stage: str, criteria: Mapping[str, Mapping[str, bool]]) -> None:
        """Add or update criteria (candidate id -> name -> passed) of existing candidates at ``stage``.

        Like ``save_properties``, for stages that judge candidates without changing them (de-duplication).
        """
        with Session(self.engine) as session, session.begin():
            _check_candidates(session, run_id, criteria)
            self._upsert(
                session,
                CriterionRecord,
                [{"candidate_id": candidate_id, "stage": stage, "name": name, "passed": bool(passed)}
                 for candidate_id, named in criteria.items() for name, passed in named.items()],
            )

    def save_structures(
        self, run_id: str, stage: str, structures: Mapping[str, tuple[Structure, str | None]]
    ) -> None:
        """Add or update structures (candidate id -> (structure, file path or None)) of existing candidates at
        ``stage``, leaving the candidate rows as they are (a DFT-relaxed structure)."""
        with Session(self.engine) as session, session.begin():
            _check_candidates(session, run_id, structures)
            self._upsert(
                session,
                StructureRecord,
                [{"candidate_id": i, "stage": stage, "formula": s.composition.reduced_formula,
                  "structure": s.as_dict(), "cif_path": path} for i, (s, path) in structures.items()],
            )

    def save_dft_calculations(self, run_id: str, rows: Sequence[Mapping[str, str]]) -> None:
        """Add or update DFT calculation rows (keys as the ``dft_calculations`` columns; candidate_id and code
        required), in one transaction."""
        with Session(self.engine) as session, session.begin():
            _check_candidates(session, run_id, {row["candidate_id"] for row in rows})
            self._upsert(session, DftCalculation, [{"run_id": run_id, **row} for row in rows])

    def update_dft_calculations(self, run_id: str, updates: Sequence[Mapping[str, str]]) -> None:
        """Change fields (status, functional, message) of existing DFT calculation rows, keyed by candidate_id
        and code; KeyError names a row that was never submitted."""
        with Session(self.engine) as session, session.begin():
            for row in updates:
                key = (row["candidate_id"], row["code"])
                changed = session.execute(
                    update(DftCalculation)
                    .where(DftCalculation.run_id == run_id, DftCalculation.candidate_id == key[0],
                           DftCalculation.code == key[1])
                    .values({k: v for k, v in row.items() if k not in ("candidate_id", "code")})
                ).rowcount
                if not changed:
                    raise KeyError(f"no {key[1]} calculation of candidate '{key[0]}' in run '{run_id}'")

    def dft_calculations(self, run_id: str | None = None, statuses: Sequence[str] | None = None) -> pd.DataFrame:
        """DFT calculation rows, optionally of one run and with the given statuses."""
        query = select(DftCalculation).order_by(DftCalculation.run_id, DftCalculation.candidate_id)
        if run_id is not None:
            query = query.where(DftCalculation.run_id == run_id)
        if statuses is not None:
            query = query.where(DftCalculation.status.in_(list(statuses)))
        columns = [c.name for c in DftCalculation.__table__.columns]
        with Session(self.engine) as session:
            rows = session.scalars(query).all()
            return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in rows], columns=columns)

    def save_files(self, run_id: str, files: Sequence[tuple[str, str, str, str | None]]) -> None:
        """(path, kind, sha256, candidate id or None) for each file a run wrote."""
        with Session(self.engine) as session, session.begin():
            self._upsert(
                session,
                FileRecord,
                [{"run_id": run_id, "path": p, "kind": k, "sha256": h, "candidate_id": c} for p, k, h, c in files],
            )

    def save_labels(self, labels: Sequence[DftLabel]) -> int:
        """Add or update DFT labels (keyed by ``label_id``) in one transaction; returns how many were new."""
        ids = [label.label_id for label in labels]
        with Session(self.engine) as session, session.begin():
            known = set(session.scalars(select(DftLabelRecord.label_id).where(DftLabelRecord.label_id.in_(ids))))
            self._upsert(session, DftLabelRecord, [
                {"label_id": label.label_id, "name": label.name, "formula": label.structure.composition.reduced_formula,
                 "structure": label.structure.as_dict(), "band_gap": label.band_gap,
                 "energy_per_atom": _finite_or_none(label.energy_per_atom), "code": label.code,
                 "functional": label.functional, "source": label.source, "group": label.group,
                 "settings": label.settings} for label in labels])
        return len(set(ids) - known)

    def labels(self, code: str | None = None, functional: str | None = None) -> list[DftLabel]:
        """The stored DFT labels (of one code and functional, if given), in ``label_id`` order."""
        query = select(DftLabelRecord).order_by(DftLabelRecord.label_id)
        if code is not None:
            query = query.where(DftLabelRecord.code == code)
        if functional is not None:
            query = query.where(DftLabelRecord.functional == functional)
        with Session(self.engine) as session:
            return [DftLabel(name=r.name, structure=Structure.from_dict(r.structure), band_gap=r.band_gap,
                             energy_per_atom=r.energy_per_atom, code=r.code, functional=r.functional,
                             source=r.source, group=r.group, settings=r.settings or {})
                    for r in session.scalars(query)]

    def runs(self) -> pd.DataFrame:
        """All runs, newest first, with candidate and success counts."""
        with Session(self.engine) as session:
            runs = session.scalars(select(Run).order_by(Run.created_at.desc())).all()
            counts = {
                run_id: (total, successes)
                for run_id, total, successes in session.execute(
                    text("SELECT run_id, COUNT(*), SUM(CASE WHEN success THEN 1 ELSE 0 END) FROM candidates GROUP BY run_id")
                )
            }
        return pd.DataFrame(
            [{"run_id": r.id, "name": r.name, "status": r.status, "created_at": r.created_at,
              "candidates": counts.get(r.id, (0, 0))[0], "successes": int(counts.get(r.id, (0, 0))[1] or 0)}
             for r in runs],
            columns=["run_id", "name", "status", "created_at", "candidates", "successes"],
        )

    def has_run(self, run_id: str) -> bool:
        with Session(self.engine) as session:
            return session.get(Run, run_id) is not None

    def run_configurations(self, name: str) -> list[tuple[str, dict]]:
        """(id, configuration as stored) of every run with this name, oldest first."""
        with Session(self.engine) as session:
            rows = session.execute(select(Run.id, Run.config).where(Run.name == name).order_by(Run.created_at))
            return [(run_id, config) for run_id, config in rows]

    def run(self, run_id: str) -> Run:
        with Session(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                raise KeyError(f"no run '{run_id}' in {self.display_url}")
            session.expunge(run)
            return run

    def stage_statuses(self, run_id: str) -> dict[str, tuple[str, str]]:
        with Session(self.engine) as session:
            rows = session.scalars(select(StageStatus).where(StageStatus.run_id == run_id)).all()
            return {r.stage: (r.status, r.message) for r in rows}

    def candidates(self, run_id: str | None = None) -> pd.DataFrame:
        """One row per candidate: identity, stage, success, then every property and criterion as columns."""
        with Session(self.engine) as session:
            query = select(Candidate).order_by(Candidate.run_id, Candidate.id)
            if run_id is not None:
                query = query.where(Candidate.run_id == run_id)
            candidates = session.scalars(query).all()
            ids = [c.id for c in candidates]
            properties = session.scalars(select(PropertyRecord).where(PropertyRecord.candidate_id.in_(ids))).all()
            criteria = session.scalars(select(CriterionRecord).where(CriterionRecord.candidate_id.in_(ids))).all()
        table = pd.DataFrame(
            [{"id": c.id, "run_id": c.run_id, "batch": c.batch, "template": c.template, "formula": c.formula,
              "stage": c.stage, "success": c.success} for c in candidates],
            columns=["id", "run_id", "batch", "template", "formula", "stage", "success"],
        )
        wide: dict[str, dict[str, object]] = {}
        for p in properties:
            wide.setdefault(p.candidate_id, {})[f"{p.stage}.{p.name}"] = p.value
        for c in criteria:
            wide.setdefault(c.candidate_id, {})[f"{c.stage}.{c.name}"] = c.passed
        if wide:
            extra = pd.DataFrame.from_dict(wide, orient="index")
            table = table.join(extra, on="id")
        return table

    def structure(self, candidate_id: str, stage: str) -> Structure:
        with Session(self.engine) as session:
            record = session.get(StructureRecord, (candidate_id, stage))
            if record is None:
                raise KeyError(f"no {stage} structure for candidate '{candidate_id}'")
            return Structure.from_dict(record.structure)

    def structures(self, candidate_ids: Iterable[str], stage: str) -> dict[str, Structure]:
        """The ``stage`` structures of the given candidates, in their order, in one query; candidates without
        one are left out (the caller says what that means for its stage)."""
        candidate_ids = list(candidate_ids)
        with Session(self.engine) as session:
            records = session.scalars(select(StructureRecord).where(
                StructureRecord.stage == stage, StructureRecord.candidate_id.in_(candidate_ids)))
            found = {r.candidate_id: r.structure for r in records}
        return {i: Structure.from_dict(found[i]) for i in candidate_ids if i in found}


def _check_candidates(session: Session, run_id: str, ids: Iterable[str]) -> None:
    """KeyError naming the ids that are not candidates of the run."""
    ids = list(ids)
    known = set(session.scalars(select(Candidate.id).where(Candidate.run_id == run_id, Candidate.id.in_(ids))))
    unknown = sorted(set(ids) - known)
    if unknown:
        raise KeyError(f"not candidates of run '{run_id}': {', '.join(unknown[:5])}")


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
