"""The state file of a running `up`, read back by the other commands: the deployed stack
comes back as the same typed records it was written from."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from local_cloud.model import (
    NOT_CREATED,
    DeployedStack,
    FunctionSpec,
    ResourceNote,
    SqsEventSourceSpec,
)
from local_cloud.running_stack import stack_from_state


def test_a_deployed_stack_survives_the_state_file(tmp_path: Path) -> None:
    stack = DeployedStack(
        stack_name="s",
        endpoint_url="http://127.0.0.1:4566",
        region="us-east-1",
        outputs={"QueueUrl": "http://q"},
        functions=(
            FunctionSpec(
                logical_id="Fn",
                function_name="s-Fn",
                handler="app.handler",
                runtime="python3.13",
                code_dir=tmp_path / "fn",
                layer_dirs=(tmp_path / "layer",),
            ),
        ),
        sqs_event_sources=(
            SqsEventSourceSpec(
                logical_id="Mapping",
                function_name="s-Fn",
                queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
                queue_url="http://q",
            ),
        ),
        unsupported_resources=(ResourceNote("Api", "AWS::AppSync::GraphQLApi", NOT_CREATED),),
    )
    written = json.loads(json.dumps({"stack": asdict(stack)}, default=str))

    assert stack_from_state(written) == stack
    [note] = stack_from_state(written).unsupported_resources
    assert str(note) == f"Api (AWS::AppSync::GraphQLApi): {NOT_CREATED}"
