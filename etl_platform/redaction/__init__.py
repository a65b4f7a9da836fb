"""Configured secrets kept out of what a run leaves behind: errors, logs and metadata.

No message of the platform holds a password on purpose: an endpoint is logged by `describe()`,
a URL that cannot be parsed is refused without being quoted. This is the second line of
defence, for what a driver or a library puts in its own messages. Every secret the
configuration points at (the `url_env` and `password_env` variables of the shards in
sources.yaml, `ETL_PLATFORM_REDSHIFT_DSN`, the views' notification channels:
`channel_secrets`) is read from the environment when a message is made, and masked wherever
it appears: as written, percent-encoded, in a repr or in JSON (`secrets`).

- `install_log_redaction()` masks every log record the process makes: Dagster's run log (which
  Dagster stores in run storage and prints to the captured console), and Python logging
  (`logs`).
- `secrets_redacted()` masks the error leaving a block: Dagster stores a step's error message
  and those of its causes in run storage. `redacted_step` does it for an asset's whole body and
  masks the metadata of its results too (`errors`).
"""

from etl_platform.redaction.errors import (
    RedactedError,
    redact_exception,
    redact_metadata,
    redacted_step,
    secrets_redacted,
)
from etl_platform.redaction.logs import SecretFilter, install_log_redaction
from etl_platform.redaction.secrets import (
    MASK,
    MIN_SECRET_CHARS,
    holds_secret,
    redact,
    secret_values,
)

__all__ = [
    "MASK",
    "MIN_SECRET_CHARS",
    "RedactedError",
    "SecretFilter",
    "holds_secret",
    "install_log_redaction",
    "redact",
    "redact_exception",
    "redact_metadata",
    "redacted_step",
    "secret_values",
    "secrets_redacted",
]
