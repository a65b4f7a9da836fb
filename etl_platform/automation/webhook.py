"""Post a JSON body to a webhook, with the standard library only.

A timeout per attempt and retries with backoff on what may pass (5xx, 408, 429, a timeout, a
refused or reset connection); none on what will not (any other 4xx, a redirect). The URL is a
credential (Slack's `hooks.slack.com/services/T…/B…/<token>`): no message or error of this
module quotes it, only its scheme and host (`describe_url`), and an error carries no cause
(urllib's `HTTPError` holds the full URL).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from etl_platform.redaction import MASK, redact
from etl_platform.redaction.secrets import webhook_url_secrets

#: 4xx answers worth another attempt: the server timed out reading, or asks to slow down.
RETRYABLE_4XX = frozenset({408, 429})
#: How much of an error answer's body a message keeps (Slack says why: `invalid_payload`).
ANSWER_CHARS = 200


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries, each waiting at most `timeout` seconds; `backoff` seconds before the
    second, doubled before each next one."""

    timeout: float = 5.0
    attempts: int = 3
    backoff: float = 0.5


class WebhookError(Exception):
    """A post that did not go through. The message names the host, never the URL."""

    def __init__(self, message: str, *, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class WebhookRefused(WebhookError):
    """The webhook answered that this body will never be taken (a 4xx, a redirect): sending it
    again would fail the same way."""


class WebhookUnavailable(WebhookError):
    """No answer, or a failing one, after every attempt: the same post may go through later."""


@dataclass(frozen=True)
class Delivery:
    status: int
    attempts: int


def is_http_url(url: str) -> bool:
    """Whether `url` can be posted to at all: http(s) with a host."""
    try:
        parts = urlsplit(url.strip())
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def describe_url(url: str) -> str:
    """What a message may say about the URL: its scheme and host (the path holds the token)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the webhook"
    return f"{parts.scheme or '?'}://{host}{port}"


def mask_url(text: str, url: str | None) -> str:
    """`text` with the webhook URL (and its path and query) masked however it is spelled, and
    every configured secret of the platform masked too (`redaction.redact`)."""
    if url:
        spellings = {
            s
            for value in webhook_url_secrets(url)
            for s in (value, quote(value, safe=""), quote(value), quote_plus(value))
        }
        for spelling in sorted(spellings, key=len, reverse=True):
            text = text.replace(spelling, MASK)
    return redact(text)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not followed: following it would send the body elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def attempt_post(request: urllib.request.Request, timeout: float) -> tuple[int | None, str]:
    """One post: (HTTP status, what went wrong). No exception leaves it, so none carries the
    URL into a traceback."""
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()
            return response.status, ""
    except urllib.error.HTTPError as e:
        try:
            answer = e.read(ANSWER_CHARS).decode("utf-8", "replace").strip()
        except (OSError, http.client.HTTPException):
            answer = ""
        finally:
            e.close()
        return e.code, f"HTTP {e.code}" + (f" ({answer})" if answer else "")
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            return None, f"no answer within {timeout:g} s"
        if isinstance(reason, BaseException):
            return None, f"{type(reason).__name__}: {reason}"
        return None, f"URLError: {reason}"
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException, ValueError) as e:
        return None, f"{type(e).__name__}: {e}"


def _retryable(status: int | None) -> bool:
    return status is None or status >= 500 or status in RETRYABLE_4XX


def post_json(
    url: str,
    body: Mapping[str, Any],
    *,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `body` as JSON to `url`. Returns on a 2xx answer; raises `WebhookRefused` at once on
    a 4xx (but 408 and 429) or a redirect, `WebhookUnavailable` when every attempt failed."""
    if not is_http_url(url):
        raise WebhookRefused("the webhook URL is not an http(s) URL", status=None, attempts=0)
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    where = describe_url(url)
    status: int | None = None
    problem = ""
    for attempt in range(1, policy.attempts + 1):
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "etl_platform-alerts",
            },
        )
        status, problem = attempt_post(request, policy.timeout)
        if status is not None and 200 <= status < 300:
            return Delivery(status=status, attempts=attempt)
        if not _retryable(status):
            message = mask_url(f"{where} refused the post: {problem}", url)
            raise WebhookRefused(message, status=status, attempts=attempt)
        if attempt < policy.attempts:
            sleep(policy.backoff * 2 ** (attempt - 1))
    message = mask_url(f"{where} unavailable after {policy.attempts} attempts: {problem}", url)
    raise WebhookUnavailable(message, status=status, attempts=policy.attempts)
