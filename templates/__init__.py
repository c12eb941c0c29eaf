"""Troposphere code of the pipeline stack and its per-environment configuration.

Deploy-time only; never packaged into a Lambda function.
"""
