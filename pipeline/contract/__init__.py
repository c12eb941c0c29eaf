"""The contract every component shares: one home per rule or value, imported by all sides.

The Lambda functions, the transform, the templates (deploy-time validation), the operator
commands and the LocalStack plugins import these modules; nothing here imports anything outside
``pipeline.contract`` and the standard library, so the Lambda package carries it unchanged.
"""
