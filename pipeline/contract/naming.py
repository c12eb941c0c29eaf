"""Stack naming and the default region: the one home of both.

An environment ``E`` deploys the CloudFormation stack ``s3-aggregator-E``; every resource name
(functions, buckets, delivery streams, alarms, log groups) starts with it. The templates, the
operator commands and the capacity model derive names from :func:`stack_name`.
"""

from __future__ import annotations

#: the project's name: the prefix of every stack and the value of its ``project`` tag
PROJECT = "s3-aggregator"
#: the region an environment deploys to when its config names none; also ``local``'s region
DEFAULT_REGION = "eu-west-2"


def stack_name(env_name: str) -> str:
    """The CloudFormation stack name of an environment (docs/architecture.md)."""
    return f"{PROJECT}-{env_name}"
