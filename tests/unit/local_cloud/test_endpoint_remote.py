"""`up` never deploys onto, or overwrites secrets at, an endpoint it was not meant for:
an AWS_ENDPOINT_URL off this machine's loopback is refused (unless
--allow-remote-endpoint) before anything connects to it, and seeding creates SSM
parameters but never overwrites one. No process or socket is opened here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_cloud import cli, cloud, endpoint
from local_cloud.cloud import LocalCloud, Settings, SettingsError
from local_cloud.endpoint import EndpointError, is_local_url, start_endpoint

SECRET = "/delivery-guarantees/payment-provider-secret-key"


class Stop(EndpointError):
    """Raised by a stand-in to end the start once what it checks is seen."""


def never_connect(*_args: Any, **_kwargs: Any) -> bool:
    raise AssertionError("connected to the endpoint before checking where it is")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4566",
        "http://localhost:4566",
        "http://[::1]:4566",
        "http://127.0.0.2:4566/",
        "http://s3.localhost:4566",
    ],
)
def test_loopback_urls_are_local(url: str) -> None:
    assert is_local_url(url)


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3:4566", "https://192.0.2.10", "http://0.0.0.0:4566", "not a url"]
)
def test_other_addresses_are_not(url: str) -> None:
    assert not is_local_url(url)


def test_a_name_is_local_only_if_it_resolves_to_loopback_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {
        "localhost.localstack.cloud": ["127.0.0.1"],
        "sqs.us-east-1.amazonaws.com": ["3.236.169.0"],
        "split.example": ["127.0.0.1", "203.0.113.9"],
    }

    def getaddrinfo(host: str, *_: Any) -> list[Any]:
        if host not in answers:
            raise OSError("no such name")
        return [(2, 1, 6, "", (address, 0)) for address in answers[host]]

    monkeypatch.setattr(endpoint.socket, "getaddrinfo", getaddrinfo)
    assert is_local_url("http://localhost.localstack.cloud:4566")
    assert not is_local_url("https://sqs.us-east-1.amazonaws.com")
    assert not is_local_url("http://split.example:4566")
    assert not is_local_url("http://unknown.example:4566")


def test_a_remote_aws_endpoint_url_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://10.20.30.40:4566")
    monkeypatch.setattr(endpoint, "is_answering", never_connect)
    with pytest.raises(EndpointError) as raised:
        start_endpoint()
    message = str(raised.value)
    assert "AWS_ENDPOINT_URL=https://10.20.30.40:4566" in message
    assert "--allow-remote-endpoint" in message


def test_allow_remote_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://10.20.30.40:4566")
    monkeypatch.setattr(endpoint, "is_answering", lambda *_a, **_k: True)
    assert start_endpoint(allow_remote=True).url == "https://10.20.30.40:4566"


def test_a_local_aws_endpoint_url_is_reused_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setattr(endpoint, "is_answering", lambda *_a, **_k: True)
    assert start_endpoint().url == "http://localhost:4566"


def test_the_local_cloud_refuses_it_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://10.20.30.40:4566")
    monkeypatch.setattr(endpoint, "is_answering", never_connect)
    with pytest.raises(EndpointError, match=r"AWS_ENDPOINT_URL=http://10\.20\.30\.40:4566"):
        LocalCloud(Settings()).start()


def test_up_passes_allow_remote_endpoint_to_the_local_cloud(
    up_calls: list[dict[str, Any]],
) -> None:
    assert cli.main(["up", "--no-view"]) == 2
    assert cli.main(["up", "--no-view", "--allow-remote-endpoint"]) == 2
    assert [options["allow_remote_endpoint"] for options in up_calls] == [False, True]


# ---------------------------------------------------------------- seeding


class MotoSession:
    """aws_session's stand-in: clients on moto's in-process mock, whatever the URL."""

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        return boto3.client(service, region_name="us-east-1")


@pytest.fixture
def seeding(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        monkeypatch.setattr(cloud, "aws_session", lambda _region: MotoSession())
        yield boto3.client("ssm", region_name="us-east-1")


def seeded_cloud(value: str) -> LocalCloud:
    return LocalCloud(Settings(ssm_parameters={SECRET: value}))


def test_seeding_creates_the_parameter(seeding: Any) -> None:
    seeded_cloud("sk_test_local")._seed("http://127.0.0.1:4566")
    parameter = seeding.get_parameter(Name=SECRET, WithDecryption=True)["Parameter"]
    assert (parameter["Value"], parameter["Type"]) == ("sk_test_local", "SecureString")


def test_seeding_again_with_the_same_value_is_fine(seeding: Any) -> None:
    seeded_cloud("sk_test_local")._seed("http://127.0.0.1:4566")
    seeded_cloud("sk_test_local")._seed("http://127.0.0.1:4566")
    assert seeding.get_parameter(Name=SECRET)["Parameter"]["Version"] == 1


def test_seeding_never_overwrites_another_value(seeding: Any) -> None:
    seeding.put_parameter(Name=SECRET, Value="someone-elses-real-key", Type="SecureString")
    with pytest.raises(SettingsError) as raised:
        seeded_cloud("sk_test_local")._seed("http://127.0.0.1:4566")
    assert SECRET in str(raised.value)
    assert "never overwrites" in str(raised.value)
    kept = seeding.get_parameter(Name=SECRET, WithDecryption=True)["Parameter"]
    assert (kept["Value"], kept["Version"]) == ("someone-elses-real-key", 1)
