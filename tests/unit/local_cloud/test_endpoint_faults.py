"""Endpoint faults: validation, which calls they hit (read from real SDK requests),
counting, probability draws replayed from a seed, and the --faults file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from local_cloud.endpoint_faults import (
    AwsCall,
    EndpointFault,
    EndpointFaultPlan,
    FaultKind,
    FaultPhase,
    FaultSpecError,
    faults_from_json,
    load_fault_file,
    read_call,
    signing_service,
)
from tests.unit.local_cloud.in_process import capture_request

THROTTLE_CHARGES = {
    "service": "dynamodb",
    "operation": "PutItem",
    "resource": "charges",
    "error": "ProvisionedThroughputExceededException",
}


def put_item(table: str) -> AwsCall:
    return AwsCall("dynamodb", "PutItem", "json", "DynamoDB_20120810", frozenset({table}))


# ---------------------------------------------------------------- the JSON of one fault


def test_a_fault_gets_its_defaults_and_survives_a_round_trip() -> None:
    fault = EndpointFault.from_json(THROTTLE_CHARGES)

    assert fault.kind is FaultKind.ERROR
    assert fault.phase is FaultPhase.BEFORE
    assert (fault.status, fault.count, fault.probability) == (400, 1, 1.0)
    assert fault.message == (
        "Injected fault: ProvisionedThroughputExceededException (local cloud endpoint)"
    )
    assert EndpointFault.from_json(fault.to_json()) == fault


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ({"service": "sqs", "latency_ms": 300}, FaultKind.LATENCY),
        ({"service": "sqs", "kind": "drop"}, FaultKind.DROP),
        ({"service": "sqs", "kind": "drop", "latency_ms": 300}, FaultKind.DROP),
        ({"service": "sqs", "error": "RequestThrottled", "latency_ms": 300}, FaultKind.ERROR),
    ],
)
def test_the_kind_follows_from_the_fields_unless_given(
    spec: dict[str, Any], kind: FaultKind
) -> None:
    assert EndpointFault.from_json(spec).kind is kind


def test_the_payment_simulators_phase_names_are_understood() -> None:
    spec = {**THROTTLE_CHARGES, "phase": "after_execution"}
    assert EndpointFault.from_json(spec).phase is FaultPhase.AFTER


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        (["dynamodb"], "fault", "JSON object"),
        ({"operation": "PutItem"}, "service", "required"),
        ({**THROTTLE_CHARGES, "service": "dynamo"}, "service", "did you mean 'dynamodb'"),
        ({"service": "s3", "error": "SlowDown"}, "service", "rest-xml"),
        ({**THROTTLE_CHARGES, "operation": "PutItm"}, "operation", "did you mean 'PutItem'"),
        ({"service": "ses", "resource": "x", "error": "Throttling"}, "resource", "dynamodb"),
        ({**THROTTLE_CHARGES, "resource": ""}, "resource", "empty"),
        ({**THROTTLE_CHARGES, "resource": 7}, "resource", "string"),
        ({"service": "dynamodb", "operation": "PutItem"}, "error", "required"),
        ({**THROTTLE_CHARGES, "error": "Bad code!"}, "error", "error code"),
        ({**THROTTLE_CHARGES, "status": 200}, "status", "400 to 599"),
        ({**THROTTLE_CHARGES, "status": "400"}, "status", "integer"),
        ({**THROTTLE_CHARGES, "count": 0}, "count", "at least 1"),
        ({**THROTTLE_CHARGES, "count": True}, "count", "integer"),
        ({**THROTTLE_CHARGES, "probability": 0}, "probability", "greater than 0"),
        ({**THROTTLE_CHARGES, "probability": 1.5}, "probability", "at most 1"),
        ({**THROTTLE_CHARGES, "probability": "0.5"}, "probability", "number"),
        ({**THROTTLE_CHARGES, "latency_ms": 0}, "latency_ms", "from 1 to 120000"),
        ({**THROTTLE_CHARGES, "latency_ms": 120_001}, "latency_ms", "from 1 to 120000"),
        ({"service": "sqs", "kind": "latency"}, "latency_ms", "required"),
        ({"service": "sqs", "kind": "explode"}, "kind", "one of"),
        ({"service": "sqs", "kind": "drop", "error": "X"}, "error", "error faults only"),
        ({"service": "sqs", "kind": "drop", "status": 503}, "status", "error faults only"),
        ({**THROTTLE_CHARGES, "phase": "during"}, "phase", "one of"),
        ({**THROTTLE_CHARGES, "colour": "red"}, "colour", "unknown field"),
    ],
)
def test_an_invalid_fault_is_refused_naming_the_field_and_the_problem(
    spec: object, field: str, says: str
) -> None:
    with pytest.raises(FaultSpecError, match=says) as raised:
        EndpointFault.from_json(spec)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_in_a_list_the_invalid_fault_is_located_by_its_index() -> None:
    with pytest.raises(FaultSpecError) as raised:
        faults_from_json([THROTTLE_CHARGES, {**THROTTLE_CHARGES, "status": 99}])
    assert raised.value.field == "[1].status"


def test_a_fault_file_is_a_json_list_and_its_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "faults.json"
    good.write_text(json.dumps([THROTTLE_CHARGES, {"service": "ses", "kind": "drop"}]))
    # Both are endpoint faults; a LambdaFault (which has no kind) would show as itself.
    kinds = [f.kind if isinstance(f, EndpointFault) else f for f in load_fault_file(good)]
    assert kinds == [FaultKind.ERROR, FaultKind.DROP]

    not_a_list = tmp_path / "one.json"
    not_a_list.write_text(json.dumps(THROTTLE_CHARGES))
    with pytest.raises(FaultSpecError, match="JSON list"):
        load_fault_file(not_a_list)

    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(FaultSpecError, match="not valid JSON"):
        load_fault_file(broken)

    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps([{**THROTTLE_CHARGES, "count": -1}]))
    with pytest.raises(FaultSpecError) as raised:
        load_fault_file(invalid)
    assert raised.value.field == f"{invalid}: [0].count"

    with pytest.raises(FaultSpecError, match="cannot be read"):
        load_fault_file(tmp_path / "missing.json")


# ---------------------------------------------------------------- the call, as the SDK sends it


def identify(environ: dict[str, Any]) -> AwsCall:
    service = signing_service(environ)
    assert service is not None
    return read_call(environ, service)


def test_a_dynamodb_call_is_read_from_the_target_header_and_the_json_body() -> None:
    environ = capture_request(
        "dynamodb", lambda ddb: ddb.put_item(TableName="charges", Item={"k": {"S": "1"}})
    )
    call = identify(environ)

    assert (call.service, call.operation, call.protocol) == ("dynamodb", "PutItem", "json")
    assert call.target_prefix == "DynamoDB_20120810"
    assert call.resources == {"charges"}
    # moto reads the body after us: it must still be there, whole
    length = int(environ["CONTENT_LENGTH"])
    assert json.loads(environ["wsgi.input"].read(length))["TableName"] == "charges"


def test_every_table_of_a_transaction_or_batch_is_a_resource_and_arns_name_tables() -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/ledger"
    transaction = capture_request(
        "dynamodb",
        lambda ddb: ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "charges", "Item": {"k": {"S": "1"}}}},
                {"Update": {"TableName": arn, "Key": {"k": {"S": "1"}}, "UpdateExpression": "x"}},
            ]
        ),
    )
    batch = capture_request(
        "dynamodb",
        lambda ddb: ddb.batch_write_item(
            RequestItems={"accounts": [{"PutRequest": {"Item": {"k": {"S": "1"}}}}]}
        ),
    )

    assert identify(transaction).resources == {"charges", "ledger"}
    assert identify(batch).resources == {"accounts"}


def test_an_sqs_call_is_json_and_its_resource_is_the_queue_name() -> None:
    url = "http://127.0.0.1:4566/123456789012/delivery-guarantees-billing"
    environ = capture_request("sqs", lambda sqs: sqs.send_message(QueueUrl=url, MessageBody="{}"))
    call = identify(environ)

    assert (call.service, call.operation, call.protocol) == ("sqs", "SendMessage", "json")
    assert call.resources == {"delivery-guarantees-billing"}


def test_an_ses_call_is_query_protocol_its_operation_the_action_parameter() -> None:
    environ = capture_request(
        "ses",
        lambda ses: ses.send_email(
            Source="from@example.com",
            Destination={"ToAddresses": ["to@example.com"]},
            Message={"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello"}}},
        ),
    )
    call = identify(environ)

    assert (call.service, call.operation, call.protocol) == ("ses", "SendEmail", "query")
    assert call.resources == frozenset()
    body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    assert b"Action=SendEmail" in body


def test_a_request_without_sigv4_names_no_service() -> None:
    assert signing_service({"HTTP_AUTHORIZATION": "Basic dGVzdDp0ZXN0"}) is None
    assert signing_service({}) is None


def test_a_presigned_url_names_its_service_in_the_query_string() -> None:
    credential = "test%2F20261130%2Fus-east-1%2Fsqs%2Faws4_request"
    assert signing_service({"QUERY_STRING": f"X-Amz-Credential={credential}"}) == "sqs"


def test_a_body_sent_in_chunks_is_read_and_put_back_whole() -> None:
    body = b'{"TableName": "charges"}'
    environ: dict[str, Any] = {
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
    }
    assert read_call(environ, "dynamodb").resources == {"charges"}
    assert environ["wsgi.input"].read() == body
    assert environ["CONTENT_LENGTH"] == str(len(body))


# ---------------------------------------------------------------- matching


def test_a_fault_for_one_table_leaves_another_alone() -> None:
    fault = EndpointFault.from_json(THROTTLE_CHARGES)
    assert fault.matches(put_item("charges"))
    assert not fault.matches(put_item("accounts"))


def test_without_operation_or_resource_a_fault_hits_every_call_of_its_service() -> None:
    fault = EndpointFault.from_json({"service": "dynamodb", "kind": "drop"})
    get_item = AwsCall("dynamodb", "GetItem", "json", "DynamoDB_20120810", frozenset({"x"}))
    assert fault.matches(put_item("accounts"))
    assert fault.matches(get_item)
    assert not fault.matches(AwsCall("sqs", "SendMessage", "json", "AmazonSQS"))


def test_services_sharing_a_signing_name_are_told_apart_by_target_prefix() -> None:
    streams_call = AwsCall("dynamodb", "GetRecords", "json", "DynamoDBStreams_20120810")
    fault = EndpointFault.from_json({"service": "dynamodb", "kind": "drop"})
    streams_fault = EndpointFault.from_json({"service": "dynamodbstreams", "kind": "drop"})
    assert not fault.matches(streams_call)
    assert streams_fault.matches(streams_call)
    assert not streams_fault.matches(put_item("charges"))


def test_a_rest_call_never_matches_because_it_names_no_operation() -> None:
    sesv2_call = AwsCall("ses", operation=None, protocol=None)  # SESv2 shares SES's scope
    assert not EndpointFault.from_json({"service": "ses", "kind": "drop"}).matches(sesv2_call)


# ---------------------------------------------------------------- the plan


def test_a_fault_hits_its_next_count_matching_calls_then_is_gone() -> None:
    plan = EndpointFaultPlan(seed=1)
    plan.add(EndpointFault.from_json({**THROTTLE_CHARGES, "count": 2}))

    assert plan.take(put_item("accounts")) is None
    assert plan.take(put_item("charges")) is not None
    assert plan.listing()["pending"][0]["remaining"] == 1
    assert plan.take(put_item("charges")) is not None
    assert plan.take(put_item("charges")) is None
    listing = plan.listing()
    assert listing["pending"] == []
    assert [fired["id"] for fired in listing["fired"]] == [1, 1]
    assert listing["fired"][0]["resources"] == ["charges"]
    assert listing["fired_total"] == 2


def test_faults_are_used_in_the_order_they_were_added() -> None:
    plan = EndpointFaultPlan(seed=1)
    plan.add(EndpointFault.from_json({"service": "dynamodb", "kind": "drop"}))
    plan.add(EndpointFault.from_json(THROTTLE_CHARGES))

    first = plan.take(put_item("charges"))
    second = plan.take(put_item("charges"))
    assert first is not None
    assert second is not None
    assert (first.fault.kind, second.fault.kind) == (FaultKind.DROP, FaultKind.ERROR)


def test_the_plan_knows_which_services_it_concerns() -> None:
    plan = EndpointFaultPlan(seed=1)
    assert not plan.concerns("dynamodb")
    plan.add(EndpointFault.from_json(THROTTLE_CHARGES))
    assert plan.concerns("dynamodb")
    assert not plan.concerns("sqs")


def hits(plan: EndpointFaultPlan, calls: int, table: str = "charges") -> list[bool]:
    return [plan.take(put_item(table)) is not None for _ in range(calls)]


def sometimes(probability: float = 0.5) -> EndpointFault:
    return EndpointFault.from_json({**THROTTLE_CHARGES, "probability": probability, "count": 40})


def test_probability_draws_replay_from_the_seed() -> None:
    first, again, other = EndpointFaultPlan(seed=7), EndpointFaultPlan(seed=7), EndpointFaultPlan(8)
    for plan in (first, again, other):
        plan.add(sometimes())

    pattern = hits(first, 30)
    assert 0 < sum(pattern) < 30  # some hit, some missed: the probability is honoured
    assert hits(again, 30) == pattern
    assert hits(other, 30) != pattern


def test_a_missed_draw_does_not_use_up_the_count() -> None:
    plan = EndpointFaultPlan(seed=7)
    plan.add(EndpointFault.from_json({**THROTTLE_CHARGES, "probability": 0.3, "count": 3}))

    pattern = hits(plan, 60)
    assert sum(pattern) == 3
    assert plan.listing()["pending"] == []


def test_each_fault_draws_from_its_own_generator() -> None:
    """Calls that only another fault sees do not shift this fault's draws."""
    alone, crowded = EndpointFaultPlan(seed=7), EndpointFaultPlan(seed=7)
    alone.add(sometimes())
    crowded.add(sometimes())
    crowded.add(EndpointFault.from_json({"service": "sqs", "kind": "drop", "probability": 0.5}))
    sqs_call = AwsCall("sqs", "SendMessage", "json", "AmazonSQS", frozenset({"q"}))

    pattern = []
    for _ in range(30):
        crowded.take(sqs_call)
        pattern.append(crowded.take(put_item("charges")) is not None)
    assert pattern == hits(alone, 30)


def test_clear_forgets_everything_and_the_same_faults_replay_the_same_draws() -> None:
    plan = EndpointFaultPlan(seed=7)
    plan.add(sometimes())
    pattern = hits(plan, 20)

    plan.clear()
    assert plan.listing() == {"seed": 7, "pending": [], "fired": [], "fired_total": 0}
    plan.add(sometimes())
    assert plan.listing()["pending"][0]["id"] == 1
    assert hits(plan, 20) == pattern


def test_without_a_seed_one_is_chosen_and_reported() -> None:
    assert isinstance(EndpointFaultPlan().listing()["seed"], int)


def test_the_listing_keeps_the_latest_firings_and_counts_them_all() -> None:
    plan = EndpointFaultPlan(seed=1, max_fired_kept=3)
    plan.add(EndpointFault.from_json({**THROTTLE_CHARGES, "count": 5}))
    hits(plan, 5)

    listing = plan.listing()
    assert len(listing["fired"]) == 3
    assert listing["fired_total"] == 5
