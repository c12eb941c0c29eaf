"""The ingest function: S3 ``ObjectCreated`` events in, object references into Firehose."""
