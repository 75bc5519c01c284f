"""Adapters: each side effect (payment provider, DynamoDB tables, SES, SQS) behind a small protocol.

Import the adapter modules directly; this package imports nothing so that a function's cold
start pays only for the adapters it uses (the Stripe SDK alone costs ~130 ms to import).
"""
