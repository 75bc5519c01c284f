"""What the demo expects comes from what it did: the jobs each signup answer listed."""

from __future__ import annotations

from collections import Counter

from delivery_guarantees.signup import (
    EMAIL_TAKEN_MESSAGE,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    SIGNUP_NOTICE_SUBJECT,
    parse_idempotency_key,
)
from demo.scenario import (
    AT_LEAST_ONCE,
    AT_MOST_ONCE,
    DECLINING_CARD,
    FIRST_CHARGE,
    TAKEN_ANSWER,
    WELCOME_EMAIL,
    Signup,
    expected_charges,
)
from demo.scenario import SIGNUP_NOTICE_SUBJECT as DEMO_NOTICE_SUBJECT


def signup(email, mode, jobs, *, calls, payment_method="pm_card_visa"):
    return Signup(
        email,
        "A Name",
        mode,
        payment_method=payment_method,
        account_id=f"acc_{email[0]}",
        transaction_id=f"txn_signup_acc_{email[0]}",
        calls=calls,
        jobs=Counter(jobs),
    )


def by_id(expectations):
    return {e.transaction_id: e for e in expectations}


def test_a_signup_charge_counts_the_jobs_its_answers_listed_not_its_calls():
    # Three calls: the first stored both jobs, the two retries stored nothing.
    ada = signup("ada@x.io", AT_LEAST_ONCE, [FIRST_CHARGE, WELCOME_EMAIL], calls=3)
    [charge] = expected_charges([ada], {}, {}, set())
    assert charge.messages_sent == 1


def test_redeliveries_and_redrives_add_to_a_signup_charge():
    ada = signup("ada@x.io", AT_LEAST_ONCE, [FIRST_CHARGE, WELCOME_EMAIL], calls=2)
    bob = signup("bob@x.io", AT_MOST_ONCE, [FIRST_CHARGE], calls=1, payment_method=DECLINING_CARD)
    expected = by_id(
        expected_charges(
            [ada, bob],
            direct_charges={ada.transaction_id: 1},
            redriven={ada.transaction_id: 1, bob.transaction_id: 1},
            reconciled=set(),
        )
    )
    ada_charge, bob_charge = expected[ada.transaction_id], expected[bob.transaction_id]
    assert (ada_charge.messages_sent, ada_charge.redriven) == (3, 1)
    assert (bob_charge.messages_sent, bob_charge.redriven, bob_charge.declines) == (2, 1, True)


def test_direct_charges_carry_their_redrives_and_the_lost_answer_its_reconciliation():
    expected = by_id(
        expected_charges(
            [],
            direct_charges={"txn_a": 2, "txn_lost": 1},
            redriven={"txn_a": 1},
            reconciled={"txn_lost"},
        )
    )
    assert (expected["txn_a"].messages_sent, expected["txn_a"].redriven) == (3, 1)
    assert not expected["txn_a"].reconciled
    assert expected["txn_lost"].reconciled
    assert expected["txn_lost"].messages_sent == 1


def test_each_signup_client_has_its_own_valid_idempotency_key():
    signups = [Signup(f"{n}@x.io", "A Name", AT_LEAST_ONCE) for n in range(3)]
    keys = [s.idempotency_key for s in signups]
    assert len(set(keys)) == 3
    for key in keys:
        assert parse_idempotency_key(key) == key
        assert len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH


def test_the_demo_tells_notices_and_the_409_apart_as_the_function_writes_them():
    # The demo observes from outside; these are the function's own texts.
    assert DEMO_NOTICE_SUBJECT == SIGNUP_NOTICE_SUBJECT
    assert TAKEN_ANSWER == {"message": EMAIL_TAKEN_MESSAGE, "field": "email"}
