"""Monitoring as AWS does it: service metrics, custom metrics from logs, alarms that act.

- `queue_metrics`: the AWS/SQS metrics SQS publishes for each queue
  (ApproximateNumberOfMessagesVisible, ApproximateAgeOfOldestMessage, ...), sampled from
  the endpoint's own SQS backend;
- `lambda_metrics`: the AWS/Lambda metrics Lambda publishes per function (Invocations,
  Errors, Throttles, Duration, ConcurrentExecutions) and the custom metrics of the
  functions' embedded-metric-format (EMF) log lines (`emf`), sent with PutMetricData;
- `alarm_rules`: how CloudWatch decides an alarm's state (period, statistic, threshold,
  evaluation periods, datapoints to alarm, missing data), as plain functions;
- `alarm_service`: CloudWatch's side in the endpoint process: it publishes the queue
  metrics, evaluates every metric alarm on a schedule, records state changes and sends
  the alarm's notification to the SNS topics of its actions, in AWS's message format.
"""
