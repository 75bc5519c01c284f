"""The demo's scaled template keeps AWS's visibility-timeout rule for every SQS source."""

from __future__ import annotations

from pathlib import Path

from demo.timescale import scale_timeouts
from local_cloud.stack.template import load_template

ROOT = Path(__file__).resolve().parents[3]


def test_scaled_template_keeps_visibility_at_least_six_timeouts_plus_window():
    template, changes = scale_timeouts(load_template(ROOT / "template.yaml"), ROOT, factor=10)
    resources = template["Resources"]
    checked = 0
    for resource in resources.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            queue = event["Properties"]["Queue"]["Fn::GetAtt"]
            queue_id = queue.split(".")[0] if isinstance(queue, str) else queue[0]
            visibility = resources[queue_id]["Properties"]["VisibilityTimeout"]
            window = event["Properties"].get("MaximumBatchingWindowInSeconds", 0)
            assert visibility >= 6 * resource["Properties"]["Timeout"] + window
            checked += 1
    assert checked == 2
    assert any(c.setting == "VisibilityTimeout" and c.scaled < c.original for c in changes)


def test_scaling_raises_visibility_when_rounding_would_break_the_rule():
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "fn/",
                    "Timeout": 11,
                    "Events": {
                        "Q": {
                            "Type": "SQS",
                            "Properties": {
                                "Queue": {"Fn::GetAtt": ["Queue", "Arn"]},
                                "MaximumBatchingWindowInSeconds": 1,
                            },
                        }
                    },
                },
            },
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 67}},
        }
    }
    scaled, _ = scale_timeouts(template, Path("/app"), factor=10)
    # Timeout 11 -> 2 and window 1 -> 1 need 13 s; 67 / 10 rounds up only to 7.
    assert scaled["Resources"]["Queue"]["Properties"]["VisibilityTimeout"] == 13
    assert scaled["Resources"]["Fn"]["Properties"]["CodeUri"] == "/app/fn"


def test_a_function_no_queue_feeds_keeps_its_timeout():
    template, changes = scale_timeouts(load_template(ROOT / "template.yaml"), ROOT, factor=10)
    resources = template["Resources"]
    # No visibility timeout waits on SignupFunction's: scaled, it only timed out under load.
    assert resources["SignupFunction"]["Properties"]["Timeout"] == 10
    assert not [c for c in changes if c.resource == "SignupFunction"]
    assert resources["BillingFunction"]["Properties"]["Timeout"] == 4
