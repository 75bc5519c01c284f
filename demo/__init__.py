"""`make demo`: the three delivery guarantees, side by side, under the same faults.

Boots the stack from template.yaml on the local cloud and drives it as users would:
at-most-once and at-least-once signups (POST /accounts) under the same SES faults
(throttling, the daily quota, a connection dropped after SES accepted the email),
injected through the endpoint's `/_local_cloud/faults`; charges delivered twice, bad
messages, under payment provider faults (503 before the charge commits, a lost answer
after it commits, an answer later than BillingFunction's timeout) through the
simulator's `/_simulator/faults` and DynamoDB faults on the charge journal's write; then,
"weeks later" (every idempotency record and provider key expired), a lost answer settled
by reconciliation and settled charges redriven from the DLQ. It counts what actually
happened (emails SES accepted, payment intents at the provider, ledger rows, dead-letter
queues), derives what each guarantee must show from what it did and what the fault plans
report as fired, and prints a table, one column per guarantee. Exits 1 when a guarantee
is broken. A failed delivery comes back when the demo fast-forwards its visibility timeout,
once the failed invocation's own timeout has passed; `--real-time` waits it out.

`python -m demo --json` prints the result as one JSON object on stdout (progress goes to
stderr). Its keys are stable:

- `held` (bool): every guarantee held; the exit code is 0 exactly when it is true.
- `seconds` (float), `time_scale` (int: the timeouts were divided by it).
- `guarantees`: an object with the keys `at_most_once_email`, `at_least_once_email`,
  `exactly_once_charge`, in that order, each:
  - `title` (str), `verdict` (`"HELD"` or `"BROKEN"`), `held` (bool);
  - `summary`: the table's rows, all int: `attempted` (emails attempted, welcome emails
    owed, transactions), `delivered` (addresses that got the email; transactions
    charged or declined exactly once), `duplicates` (extra emails; extra payment
    intents), `lost`, `dead_lettered` (null for at-most-once, which has no queue),
    `faults_injected` (requests the faults hit);
  - `figures`: the detailed figures, an object of int by stable key (for example
    `stopped_by_faults`, `accepted_then_failed`, `messages_enqueued`, `charged_once`,
    `reconciled`, `double_charges`; see demo/report.py);
  - `violations` (list of str: why it is BROKEN, empty when HELD), `notes` (list of str).
- `faults`: one object per fault injected, in order: `guarantee` (one of the keys
  above), `boundary` (`"endpoint"` or `"provider"`), `target`, `description`, `phase`
  (`"before"`: nothing executed; `"after"`: executed, then the caller saw a failure),
  `fails_call` (bool), `planned` (its count), `fired` (requests it hit, from the plan's
  own listing), `spec` (the JSON posted to the boundary).
- `charge_messages_still_queued` (int): charge messages still retrying at the end (a
  duplicate that met its twin in progress; the rejected ones are in BillingDeadLetterQueue
  at their first failure, not here).
"""
