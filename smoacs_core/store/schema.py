"""Tables of the results store: runs, their stage statuses, candidates, and per-stage structures,
properties, criteria and files. Natural keys everywhere, so that every write can be an idempotent upsert."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One discovery run; its id is derived from its configuration, so a re-run resumes the same run."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(40), default="running")
    config: Mapped[dict] = mapped_column(JSON)
    provenance: Mapped[dict] = mapped_column(JSON, default=dict)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    flow_run_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class StageStatus(Base):
    """Where each stage of a run stands (pending, running, completed, failed)."""

    __tablename__ = "stage_statuses"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Candidate(Base):
    """One candidate crystal of a run, traceable to its initial structure and batch."""

    __tablename__ = "candidates"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    batch: Mapped[int] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(String(200))
    formula: Mapped[str] = mapped_column(String(200), index=True)
    stage: Mapped[str] = mapped_column(String(40), default="optimized")
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StructureRecord(Base):
    """A candidate's structure at one stage (initial, optimized, prerelaxed, dft_relaxed)."""

    __tablename__ = "structures"

    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    formula: Mapped[str] = mapped_column(String(200))
    structure: Mapped[dict] = mapped_column(JSON)
    cif_path: Mapped[str | None] = mapped_column(Text, nullable=True)


class PropertyRecord(Base):
    """A property value of a candidate at a stage, with what produced it (model ID or DFT code)."""

    __tablename__ = "properties"

    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(40), default="")


class CriterionRecord(Base):
    """Whether a candidate met one criterion at a stage."""

    __tablename__ = "criteria"

    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    passed: Mapped[bool] = mapped_column(Boolean)


class FileRecord(Base):
    """A file a run wrote, with its content hash."""

    __tablename__ = "files"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    candidate_id: Mapped[str | None] = mapped_column(String(120), nullable=True)


class DftCalculation(Base):
    """A candidate's DFT work: where it went, with which code, and where it stands.

    Written at submission, updated by every harvest; the harvest deployment finds open work by ``status``
    across runs, so a lost or failed calculation is a row saying so, never a missing row.
    """

    __tablename__ = "dft_calculations"

    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    backend: Mapped[str] = mapped_column(String(20))
    directory: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    functional: Mapped[str] = mapped_column(String(40), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class DftLabelRecord(Base):
    """A DFT band gap of a structure that correction models learn from: imported, or harvested from a run.

    Kept apart from the candidates: labels outlive runs, come from elsewhere, and are what every later model
    version was trained on (``label_id`` is stable, so importing the same file twice changes nothing).
    """

    __tablename__ = "dft_labels"

    label_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    formula: Mapped[str] = mapped_column(String(200), index=True)
    structure: Mapped[dict] = mapped_column(JSON)
    band_gap: Mapped[float] = mapped_column(Float)
    energy_per_atom: Mapped[float | None] = mapped_column(Float, nullable=True)
    code: Mapped[str] = mapped_column(String(20), index=True)
    functional: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(Text)
    group: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
