"""Operating a deployed stack through the AWS APIs only: dead-letter queues (dlq)."""
