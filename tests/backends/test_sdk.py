"""What the SDK backends share: reading a success body, the SDKs' errors, a missing SDK."""

from __future__ import annotations

import httpx2
import openai
import pytest

from promptkit.backends.sdk import body_error, require_sdk, response_class, translate_sdk_error
from promptkit.errors import BackendError


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_sdks_own_response_class_is_found_through_its_public_client_class(
    provider: str,
) -> None:
    sdk = __import__(provider)
    found = response_class(provider)
    client = next(base for base in sdk.DefaultHttpxClient.__mro__ if base.__name__ == "Client")
    assert found.__module__.split(".")[0] == client.__module__.split(".")[0]
    assert found.__name__ == "Response"


@pytest.mark.parametrize(
    ("raw", "retryable", "words"),
    [
        (b'{"choices": [{"mess', True, "JSON cut off after 19 bytes"),
        (b"  ", True, "an empty body"),
        (b"<html><body>proxy login</body></html>", False, "not JSON"),
        (b"Service Unavailable", False, "not JSON"),
    ],
)
def test_a_body_that_is_not_json_says_what_it_is(raw: bytes, retryable: bool, words: str) -> None:
    response = httpx2.Response(200, content=raw, headers={"content-type": "text/html"})
    error = body_error(response, "openai:m")
    assert words in str(error)
    assert (error.retryable, error.status) == (retryable, 200)
    assert str(error).startswith("openai:m replied (HTTP 200")
    assert ("base URL" in str(error)) is not retryable


def _status(code: int, headers: dict[str, str]) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx2.Response(
        code, headers=headers, json={"error": {"message": "no"}}, request=request
    )
    return openai.APIStatusError("no", response=response, body=None)


def test_sdk_status_errors_keep_their_status_and_wait() -> None:
    error = translate_sdk_error(_status(429, {"retry-after-ms": "1500"}), openai, "openai", 5)
    assert (error.status, error.retryable, error.retry_after) == (429, True, 1.5)
    error = translate_sdk_error(_status(400, {}), openai, "openai", 5)
    assert (error.status, error.retryable, error.retry_after) == (400, False, None)


def test_sdk_timeouts_and_connection_errors_are_retryable() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1")
    timeout = translate_sdk_error(openai.APITimeoutError(request), openai, "openai", 2.5)
    assert (str(timeout), timeout.retryable) == ("openai: no reply within 2.5s", True)
    broken = translate_sdk_error(openai.APIConnectionError(request=request), openai, "openai", 5)
    assert broken.retryable
    assert "connection failed" in str(broken)


def test_a_missing_sdk_names_the_extra_that_installs_it() -> None:
    with pytest.raises(BackendError, match=r"pip install 'promptkit\[no_such_sdk\]'") as raised:
        require_sdk("no_such_sdk")
    assert not raised.value.retryable
