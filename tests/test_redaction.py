"""Secret redaction: known values and credential-shaped text, wherever they appear."""

from __future__ import annotations

import pytest

from promptkit.redaction import Redactor, client_secrets, environment_secrets, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123xyz", "Authorization: Bearer [redacted]"),
        ('{"authorization": "Bearer abc123xyz"}', '{"authorization": "Bearer [redacted]"}'),
        ("{'Authorization': 'Basic dXNlcjpwYXNz'}", "{'Authorization': 'Basic [redacted]'}"),
        ('"x-api-key": "anything-at-all"', '"x-api-key": "[redacted]"'),
        ("x-api-key=anything&y=1", "x-api-key=[redacted]&y=1"),
        ("api_key: 12345678", "api_key: [redacted]"),
        ("token sk-ant-api03-abcdefgh done", "token [redacted] done"),
        ("bearer eyJhbGciOi.payload.sig", "bearer [redacted]"),
        ("nothing secret here: 401 Unauthorized", "nothing secret here: 401 Unauthorized"),
    ],
)
def test_credential_shaped_values_are_redacted(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


def test_the_environments_keys_are_redacted_wherever_they_appear(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "plainkey-001")
    monkeypatch.setenv("PROMPTKIT_PROXY_PASSWORD", "hunter22")
    monkeypatch.setenv("PROMPTKIT_MODEL", "not-a-secret-name")
    assert {"plainkey-001", "hunter22"} <= set(environment_secrets())
    assert "not-a-secret-name" not in environment_secrets()
    assert redact("echo plainkey-001 / hunter22 / not-a-secret-name") == (
        "echo [redacted] / [redacted] / not-a-secret-name"
    )


def test_keys_given_to_clients_are_known_and_short_values_are_not_secrets() -> None:
    class Client:
        api_key = "client-key-42"

    class Backend:
        def __init__(self) -> None:
            self._client = Client()
            self.model = "m"

    assert client_secrets(Backend()) == ["client-key-42"]
    redactor = Redactor.of(client_secrets(Backend()), ["x"])
    assert redactor("got client-key-42, x marks the spot") == "got [redacted], x marks the spot"


def test_a_records_error_is_redacted_in_its_message_and_raw_only() -> None:
    redactor = Redactor(("s3cret-value",))
    error = {
        "type": "BackendError",
        "message": "s3cret-value",
        "raw": "s3cret-value",
        "status": 401,
    }
    assert redactor.error(error) == {
        "type": "BackendError",
        "message": "[redacted]",
        "raw": "[redacted]",
        "status": 401,
    }
    assert redactor.error(None) is None
