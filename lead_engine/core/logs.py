"""Log lines a person and a log shipper can both read: time, level, action, extra fields, message."""

from __future__ import annotations

import logging

# uvicorn adds `color_message`, the same text with terminal colour codes: never part of a log line.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "action", "color_message"}


class ActionFormatter(logging.Formatter):
    """Puts the stable ``action`` name and any extra fields beside the message."""

    def format(self, record: logging.LogRecord) -> str:
        """One line: ``time level logger action key=value … | message``."""
        base = f"{self.formatTime(record)} {record.levelname} {record.name}"
        action = getattr(record, "action", "-")
        extras = " ".join(f"{key}={value}" for key, value in record.__dict__.items() if key not in _STANDARD)
        line = f"{base} {action} {extras} | {record.getMessage()}".replace("  ", " ")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO") -> None:
    """Send the engine's logs to stderr in the action format (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(handler.formatter, ActionFormatter) for handler in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(ActionFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet_libraries()


# HTTP clients log every request's URL at INFO, and a Slack webhook's URL is its secret; alembic announces each
# of its plugins on every start. Only their warnings are news, at any log level.
QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "alembic.runtime.plugins")


def quiet_libraries() -> None:
    """Keep the libraries' request and plugin chatter (and the URLs in it) out of the log."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
