"""LocalStack plugins (host Lambda executor, faithful Firehose). Loaded by LocalStack, never packaged into a Lambda."""
