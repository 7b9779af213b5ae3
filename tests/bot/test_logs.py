"""Tests of the logging set-up."""

from __future__ import annotations

import logging

import pytest

from bot.logs import RedactingFilter


def test_secret_is_redacted_from_message_args_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """The token never reaches a handler, neither in the message nor in a traceback."""
    logger = logging.getLogger("test.redaction")
    caplog.handler.addFilter(RedactingFilter(["tok.en.value"]))
    try:
        raise RuntimeError("bad token tok.en.value")
    except RuntimeError:
        logger.exception("login with %s failed", "tok.en.value")
    text = caplog.text
    assert "tok.en.value" not in text
    assert "[redacted]" in text
    assert "RuntimeError" in text


def test_no_secret_leaves_records_alone() -> None:
    """Without secrets the filter changes nothing."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    assert RedactingFilter([""]).filter(record)
    assert record.getMessage() == "hello world"
