"""The endpoint builds moto's application for the services named by --preload, in the
background, exactly as the first signed request for each would (endpoint_preload.py)."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local_cloud import endpoint_server
from local_cloud.endpoint_preload import (
    PreloadError,
    _environ,
    check_services,
    parse_services,
    preload,
    share_region_lookups,
)


def test_service_names_are_parsed_and_a_malformed_one_is_named() -> None:
    assert parse_services("sts,s3, ssm") == ["sts", "s3", "ssm"]
    for bad in ("", "sts,,s3", "STS", "s3;rm"):
        with pytest.raises(PreloadError, match="is not a service name"):
            parse_services(bad)


def test_a_service_no_backend_serves_is_named() -> None:
    dispatcher = DomainDispatcherApplication(create_backend_app)
    check_services(dispatcher, ["sts", "monitoring", "lambda"])
    with pytest.raises(PreloadError, match=r"'cloudwatch'.*monitoring"):
        check_services(dispatcher, ["sts", "cloudwatch"])


def signed_environ(service: str) -> dict[str, Any]:
    """What botocore sends, as far as moto's routing reads it."""
    return {
        "PATH_INFO": "/",
        "REQUEST_METHOD": "POST",
        "HTTP_HOST": "127.0.0.1:4566",
        "HTTP_AUTHORIZATION": (
            f"AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc"
        ),
    }


def test_what_is_preloaded_is_what_a_signed_request_uses() -> None:
    dispatcher = DomainDispatcherApplication(create_backend_app)
    preload(dispatcher, ["sts", "sqs"]).join(timeout=300)
    built = dict(dispatcher.app_instances)
    assert len(built) == 2
    for service in ("sts", "sqs"):
        assert dispatcher.get_application(signed_environ(service)) in built.values()
    assert dispatcher.app_instances == built  # the requests built nothing new


def test_a_failing_service_does_not_stop_the_others() -> None:
    built: list[str] = []

    class Dispatcher:
        def get_application(self, environ: dict[str, Any]) -> None:
            service = environ["HTTP_AUTHORIZATION"].split("/")[3]
            if service == "ssm":
                raise RuntimeError("moto could not build it")
            built.append(service)

    preload(Dispatcher(), ["sts", "ssm", "s3"]).join(timeout=30)
    assert built == ["sts", "s3"]
    assert _environ("s3")["HTTP_AUTHORIZATION"].split("/")[3] == "s3"


def test_the_endpoint_refuses_an_unknown_service_before_binding(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(endpoint_server.signal, "signal", lambda *_: None)  # pytest's own
    # what main() changes for its whole process, changed for this test only
    monkeypatch.setattr(endpoint_server, "speed_up_moto", lambda: None)
    monkeypatch.setattr(boto3.Session, "get_available_regions", boto3.Session.get_available_regions)

    def no_binding(*_: Any) -> None:
        raise AssertionError("bound a socket before checking --preload")

    monkeypatch.setattr(endpoint_server, "bind_loopback", no_binding)
    with pytest.raises(SystemExit) as exited:
        endpoint_server.main(["-p", "0", "--preload", "sts,cloudwatch"])
    assert exited.value.code == 2
    assert "--preload: no moto backend serves the service 'cloudwatch'" in capsys.readouterr().err


def test_region_lookups_give_botocores_answers_loading_its_data_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    questions = [
        ("ec2", "aws", False),
        ("ec2", "aws-us-gov", False),
        ("ec2", "aws-cn", False),
        ("sqs", "aws", False),
        ("iam", "aws", True),
    ]
    # fresh sessions with loaders of their own, as in the endpoint (tests/conftest.py shares
    # one loader across the test process's sessions)
    monkeypatch.setattr(botocore.session, "create_loader", botocore.loaders.create_loader)
    expected = [boto3.Session().get_available_regions(*question) for question in questions]
    loads: list[str] = []
    real_load = botocore.loaders.Loader.load_data_with_path

    def counting_load(self: Any, name: str) -> Any:
        loads.append(name)
        return real_load(self, name)

    monkeypatch.setattr(botocore.loaders.Loader, "load_data_with_path", counting_load)
    # restored after the test: share_region_lookups replaces it for the whole process
    monkeypatch.setattr(boto3.Session, "get_available_regions", boto3.Session.get_available_regions)
    share_region_lookups()
    installed = boto3.Session.get_available_regions
    share_region_lookups()  # again, as main() does in a fork of the warm server
    assert boto3.Session.get_available_regions is installed  # not a wrapper around it
    for _ in range(2):  # moto asks fresh sessions, again and again
        answers = [boto3.Session().get_available_regions(*question) for question in questions]
        assert answers == expected
    answers[0].append("mutated-by-a-caller")
    assert boto3.Session().get_available_regions("ec2") == expected[0]
    assert loads.count("endpoints") == 1
    assert loads.count("ec2/2016-11-15/service-2") == 1
