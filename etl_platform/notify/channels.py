"""One attempt to deliver one message, by webhook or SMTP; `deliver` retries.

Each message carries its idempotency key: the `Idempotency-Key` header of the webhook post,
and of the e-mail (with a `Message-ID` built from it). A message sent again after a crash
(sent, then the process died before the ledger recorded it) carries the same key, so the
receiver can drop the repeat. URLs, hosts, users, passwords and header values come from the
environment when a run starts and never appear in a problem, a log or metadata.
"""

from __future__ import annotations

import dataclasses
import json
import os
import smtplib
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Protocol

from etl_platform.automation.webhook import (
    RETRYABLE_4XX,
    attempt_post,
    describe_url,
    is_http_url,
    mask_url,
)
from etl_platform.redaction import MASK
from etl_platform.specs.notifications import SmtpChannel, WebhookChannel

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Answers about the channel's credentials, not the message: every message would get the
#: same, so the rule stops and its messages wait for the fix instead of dead-lettering.
HTTP_CREDENTIAL_REFUSALS = frozenset({401, 403, 407})
SMTP_CREDENTIAL_REFUSALS = frozenset({530, 534, 535})


@dataclasses.dataclass(frozen=True)
class Message:
    """What one row version sends: the rendered text (and subject and recipient for e-mail)."""

    view: str
    rule: str
    idempotency_key: str
    text: str
    subject: str = ""
    to: str = ""


@dataclasses.dataclass(frozen=True)
class Attempt:
    """How one attempt went: delivered, or why not and whether another attempt may succeed."""

    delivered: bool
    retryable: bool = False
    status: int | None = None
    problem: str = ""
    credentials_refused: bool = False


class Sender(Protocol):
    def send(self, message: Message, timeout: float) -> Attempt: ...


class NotConfigured(LookupError):
    """A variable the channel names is not set here; the message names it, not its value."""


def _mask(text: str, secrets: list[str]) -> str:
    for value in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


@dataclasses.dataclass(frozen=True)
class WebhookSender:
    """POSTs `{"view", "rule", "idempotency_key", "text"}` as JSON."""

    url: str = dataclasses.field(repr=False)
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)

    def send(self, message: Message, timeout: float) -> Attempt:
        body = {
            "view": message.view,
            "rule": message.rule,
            "idempotency_key": message.idempotency_key,
            "text": message.text,
        }
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body, ensure_ascii=False, default=str).encode("utf-8"),
            method="POST",
            headers={
                **self.headers,
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "etl_platform-notifications",
                IDEMPOTENCY_HEADER: message.idempotency_key,
            },
        )
        status, problem = attempt_post(request, timeout)
        if status is not None and 200 <= status < 300:
            return Attempt(delivered=True, status=status)
        retryable = status is None or status >= 500 or status in RETRYABLE_4XX
        where = describe_url(self.url)
        text = _mask(mask_url(f"{where}: {problem}", self.url), list(self.headers.values()))
        return Attempt(
            delivered=False,
            retryable=retryable,
            status=status,
            problem=text,
            credentials_refused=status in HTTP_CREDENTIAL_REFUSALS,
        )


@dataclasses.dataclass(frozen=True)
class SmtpSender:
    """Sends one e-mail per message, over a connection of its own."""

    host: str = dataclasses.field(repr=False)
    port: int
    from_addr: str
    starttls: bool = True
    user: str | None = dataclasses.field(default=None, repr=False)
    password: str | None = dataclasses.field(default=None, repr=False)

    def send(self, message: Message, timeout: float) -> Attempt:
        email = EmailMessage()
        email["From"] = self.from_addr
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = f"<{message.idempotency_key}@etl-platform>"
        email[IDEMPOTENCY_HEADER] = message.idempotency_key
        email.set_content(message.text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            return self._refused(min(codes) if codes else 550, "recipient refused")
        except smtplib.SMTPResponseException as error:
            reason = error.smtp_error.decode("utf-8", "replace") if error.smtp_error else ""
            return self._refused(error.smtp_code, reason)
        except TimeoutError:
            return Attempt(False, retryable=True, problem=f"no answer within {timeout:g} s")
        except (OSError, smtplib.SMTPException) as error:
            return Attempt(False, retryable=True, problem=self._clean(f"{type(error).__name__}"))
        return Attempt(delivered=True, status=250)

    def _refused(self, code: int, reason: str) -> Attempt:
        """SMTP's 4xx is transient (try again later) and 5xx permanent: the reverse of HTTP."""
        return Attempt(
            delivered=False,
            retryable=400 <= code < 500,
            status=code,
            problem=self._clean(f"SMTP {code} {reason}".strip()),
            credentials_refused=code in SMTP_CREDENTIAL_REFUSALS,
        )

    def _clean(self, text: str) -> str:
        return _mask(text, [self.host, self.user or "", self.password or ""])


def _variable(name: str, environ: Mapping[str, str]) -> str:
    value = (environ.get(name) or "").strip()
    if not value:
        raise NotConfigured(f"set {name}")
    return value


def sender_for(
    channel: WebhookChannel | SmtpChannel, environ: Mapping[str, str] | None = None
) -> Sender:
    """The channel's sender, its settings read from the environment now (at run time).

    Raises:
        NotConfigured: a variable it names is unset (the message names the variable).
    """
    env = os.environ if environ is None else environ
    if isinstance(channel, WebhookChannel):
        url = _variable(channel.url_env, env)
        if not is_http_url(url):
            raise NotConfigured(f"{channel.url_env} is not an http(s) URL")
        headers = {name: _variable(var, env) for name, var in channel.headers_env.items()}
        return WebhookSender(url, headers)
    return SmtpSender(
        host=_variable(channel.host_env, env),
        port=channel.port,
        from_addr=channel.from_,
        starttls=channel.starttls,
        user=_variable(channel.user_env, env) if channel.user_env else None,
        password=_variable(channel.password_env, env) if channel.password_env else None,
    )
