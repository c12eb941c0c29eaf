"""LocalStack plugins: a host Lambda executor and a faithful Firehose.

Loaded by LocalStack at deploy/test time; never packaged into a Lambda function.
"""
