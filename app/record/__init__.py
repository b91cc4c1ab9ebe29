"""A run's record outside the database: the evidence bundle (`export`, `verify`) and the
human-readable run report. Verification needs nothing but the zip (DESIGN.md G8)."""

from __future__ import annotations

from app.record.bundle import BundleError
from app.record.export import export_run
from app.record.report import write_report
from app.record.verify import Problem, Verdict, verify_bundle

__all__ = ["BundleError", "Problem", "Verdict", "export_run", "verify_bundle", "write_report"]
