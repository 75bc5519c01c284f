"""Credentials for the local endpoint come from one module: the caller's own when set, else
LocalStack's test/test; a function signs with its own key ID and the same local secret."""

from __future__ import annotations

import pytest

from local_cloud.aws_session import LOCAL_CREDENTIAL, aws_session, function_credentials
from local_cloud.call_log import function_of_access_key


def test_without_credentials_the_session_signs_as_localstack_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    credentials = aws_session("eu-west-1").get_credentials()
    assert credentials is not None
    assert (credentials.access_key, credentials.secret_key) == ("test", "test")
    assert credentials.token is None


def test_the_callers_own_credentials_are_used_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCALLER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    session = aws_session("us-east-1")
    credentials = session.get_credentials()
    assert credentials is not None
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        "AKIDCALLER",
        "secret",
        "token",
    )
    assert session.region_name == "us-east-1"


def test_a_function_signs_with_its_own_key_and_the_local_secret() -> None:
    credentials = function_credentials("BillingFunction")
    assert function_of_access_key(credentials["aws_access_key_id"]) == "BillingFunction"
    assert credentials["aws_secret_access_key"] == LOCAL_CREDENTIAL
    assert credentials["aws_session_token"] == LOCAL_CREDENTIAL
