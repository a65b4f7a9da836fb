"""Secrets masked in every log record the process makes: Dagster's run log (which Dagster
stores in run storage and prints to the captured console), and Python logging."""

from __future__ import annotations

import logging
import threading
from typing import Any

from etl_platform.redaction.errors import redact_exception
from etl_platform.redaction.secrets import redact, secrets_configured


class SecretFilter(logging.Filter):
    """Masks configured secrets in a record: its message (arguments merged in), its error and
    its stack. Never drops a record."""

    _busy = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self._busy, "on", False):  # a record made while reading the configuration
            return True
        self._busy.on = True
        try:
            if secrets_configured():
                _mask_record(record)
        finally:
            self._busy.on = False
        return True


def _mask_record(record: logging.LogRecord) -> None:
    """Only a record that holds a secret is changed (its message then merged with its
    arguments, as a handler would have)."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format: the handler reports it, as it would anyway
        return
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if isinstance(record.exc_info, tuple) and record.exc_info[1] is not None:
        safe = redact_exception(record.exc_info[1])
        record.exc_info = (type(safe), safe, record.exc_info[2])
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


_FILTER = SecretFilter()


def install_log_redaction() -> None:
    """Mask secrets in every log record made in this process from now on (idempotent).

    Through the record factory, because Dagster's run log is a `Logger` of its own, outside the
    logging tree, made anew for every run and step: no filter on a named logger sees its
    records, and they are what Dagster stores and prints. The filter also sits on the root and
    `dagster` loggers, for records made some other way (`logging.makeLogRecord`).
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "masks_secrets", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        _FILTER.filter(record)
        return record

    factory.masks_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    for logger in (logging.getLogger(), logging.getLogger("dagster")):
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
