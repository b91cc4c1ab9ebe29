"""G7 in log lines: what a run resolved from a credential never reaches a log handler, also when
it is in an argument or an exception's message."""

from __future__ import annotations

import logging

import pytest

from app.engine.redaction import LogRedaction
from app.secrets import MASK, Redactor


def test_engine_log_lines_are_redacted_while_the_run_is_live(caplog: pytest.LogCaptureFixture) -> None:
    filt = LogRedaction()
    filt.install()
    redactor = Redactor(["hunter2-secret"])
    filt.add("run1", redactor)
    log = logging.getLogger("flightdeck.engine")
    try:
        with caplog.at_level(logging.INFO, logger="flightdeck.engine"):
            log.info("typed %s into %s", "hunter2-secret", "Password")
            try:
                raise RuntimeError("page said: wrong password hunter2-secret")
            except RuntimeError:
                log.exception("step failed")
        text = caplog.text
        assert "hunter2-secret" not in text
        assert f"typed {MASK} into Password" in text and f"wrong password {MASK}" in text
        filt.discard("run1")
        with caplog.at_level(logging.INFO, logger="flightdeck.engine"):
            log.info("after the run: %s", "plain")
        assert "after the run: plain" in caplog.text
    finally:
        filt.uninstall()
