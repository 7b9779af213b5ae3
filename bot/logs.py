"""Logging set-up: one format, and a filter that keeps the token out of every line."""

from __future__ import annotations

import logging

__all__ = ["RedactingFilter", "setup_logging"]


class RedactingFilter(logging.Filter):
    """Replaces every occurrence of the given secrets in a record's final text."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message now, redacted, so no handler ever sees the secret."""
        if not self.secrets:
            return True
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "[redacted]")
        record.msg, record.args = text, None
        return True


def setup_logging(level: int, secrets: list[str] | None = None) -> None:
    """Configure the root logger once: level, format, and redaction of ``secrets``."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets or []))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("discord.http").setLevel(max(level, logging.INFO))
