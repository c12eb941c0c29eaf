"""Runtime code of the Lambda functions: object references, the bundle format, ingest and copier."""
