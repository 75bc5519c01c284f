"""What fired is read back from the fault plans' own listings, never assumed."""

from __future__ import annotations

from demo.faults import (
    BOTO_ATTEMPTS_PER_CALL,
    ENDPOINT,
    PROVIDER,
    FiredFault,
    PlannedFault,
    billing_crash_fault,
    billing_endpoint_faults,
    endpoint_fired,
    failed_after_executing,
    provider_faults,
    provider_fired,
    ses_faults,
    stopped_before_executing,
)
from local_cloud.endpoint_faults import faults_from_json
from local_cloud.payment_provider.faults import Fault


def planned(spec, *, boundary=ENDPOINT, fails_call=True):
    return PlannedFault(boundary, "target", "description", spec, fails_call=fails_call)


def test_endpoint_firings_are_counted_per_fault_id():
    a = planned({"service": "ses", "count": 2})
    b = planned({"service": "ses", "kind": "drop", "phase": "after"})
    c = planned({"service": "ses", "count": 3})
    listing = {"fired": [{"id": 1}, {"id": 3}, {"id": 1}, {"id": 3}], "pending": []}
    fired = endpoint_fired([(a, 1), (b, 2), (c, 3)], listing)
    assert [f.fired for f in fired] == [2, 0, 2]


def test_provider_firings_are_the_count_minus_what_is_still_pending():
    lost = planned(
        {"kind": "error", "status": 500, "phase": "after_execution", "count": 2},
        boundary=PROVIDER,
    )
    slow = planned({"kind": "delay", "delay_ms": 4000, "count": 1}, boundary=PROVIDER)
    echoed_lost = {"kind": "error", "count": 2, "phase": "after_execution", "status": 500}
    echoed_slow = {"kind": "delay", "count": 1, "phase": "before_execution", "delay_ms": 4000}
    pending = [{**echoed_lost, "remaining": 1}]
    fired = provider_fired([(lost, echoed_lost), (slow, echoed_slow)], pending)
    assert [f.fired for f in fired] == [1, 1]


def test_only_failing_faults_count_as_stopped_or_failed_after_executing():
    before = FiredFault(planned({"service": "ses", "count": 3}), 3)
    after = FiredFault(planned({"service": "ses", "kind": "drop", "phase": "after"}), 1)
    after_provider = FiredFault(
        planned({"kind": "error", "phase": "after_execution"}, boundary=PROVIDER), 2
    )
    slow = FiredFault(planned({"service": "ses", "latency_ms": 10}, fails_call=False), 4)
    faults = [before, after, after_provider, slow]
    assert stopped_before_executing(faults) == 3
    assert failed_after_executing(faults) == 3


def test_the_demo_plans_are_valid_at_their_boundaries():
    endpoint = [*ses_faults(), *billing_endpoint_faults("delivery-guarantees-charges")]
    faults_from_json([dict(p.spec) for p in endpoint])  # raises on an invalid fault
    for p in provider_faults(billing_timeout_seconds=3):
        Fault.from_json(dict(p.spec))


def test_the_quota_fault_fails_one_whole_sdk_call_and_the_slow_answer_outlasts_the_timeout():
    quota = next(p for p in ses_faults() if "quota" in str(p.spec.get("message")))
    assert quota.count == BOTO_ATTEMPTS_PER_CALL
    slow = next(p for p in provider_faults(billing_timeout_seconds=7) if p.spec["kind"] == "delay")
    assert slow.spec["delay_ms"] > 7000
    assert slow.phase == "after"


def test_billing_is_killed_right_after_the_provider_answered_a_charge():
    crash = billing_crash_fault()
    assert (crash.spec["service"], crash.spec["action"]) == ("lambda", "crash")
    assert crash.phase == "after"  # the provider answered (charged) before the kill
