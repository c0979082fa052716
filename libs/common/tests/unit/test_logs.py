"""The redacting log filter: secrets masked, ordinary messages left readable."""

from __future__ import annotations

import pytest
from tianji_common.logs import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-abcdEFGH12345678 used", "key sk-abcd…REDACTED used"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x", "Authorization: Bearer REDACTED"),
        ("api_key=abcd1234efgh5678", "api_key=REDACTED"),
        ('password: "hunter22secret"', 'password: "REDACTED"'),
        (
            "model_list[0].litellm_params.api_key: environment variable 'X' is not set",
            "model_list[0].litellm_params.api_key: environment variable 'X' is not set",
        ),
        ("token: x", "token: x"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
