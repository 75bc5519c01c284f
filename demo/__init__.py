"""`make demo`: the three delivery guarantees, side by side, on the local cloud.

Boots the stack from template.yaml on the local cloud, drives signups, welcome emails and
charges through an email outage and duplicate deliveries; then, "weeks later" (every
idempotency record and provider key expired), redrives settled charges and recovers a
charge whose answer was lost. It counts what actually happened (emails SES accepted,
payment intents at the provider, ledger rows, dead-letter queues) and reports each
guarantee. Exits non-zero when a guarantee is broken.
"""
