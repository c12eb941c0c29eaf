"""What makes a valid-looking file unsafe to deploy outside ``local``."""

from __future__ import annotations

import ipaddress

from templates.config.schema import (
    ACCOUNT_IN_ARN,
    EXAMPLE_ACCOUNT_IDS,
    EXAMPLE_NETWORKS,
    LOCAL_ENV_NAME,
    EnvironmentConfig,
)


def _account_ids(config: EnvironmentConfig) -> list[tuple[str, str]]:
    found = [
        ("access.external_principal", config.access.external_principal),
        ("access.consumer_principal", config.access.consumer_principal),
    ]
    if config.alarms.topic_arn:
        found.append(("alarms.topic_arn", config.alarms.topic_arn))
    return [(key, match.group(1)) for key, arn in found if (match := ACCOUNT_IN_ARN.search(arn))]


def deployable_problems(config: EnvironmentConfig, source: str) -> list[str]:
    """What makes a valid-looking file unsafe to deploy outside ``local`` (docs/configuration.md).

    Example account ids from the AWS documentation, documentation CIDR blocks (RFC 5737/3849) and
    alarms that notify nobody are refused, so a copied example never reaches a real account.
    """
    if config.name == LOCAL_ENV_NAME:
        return []
    problems = []
    for key, account in _account_ids(config):
        if account in EXAMPLE_ACCOUNT_IDS:
            problems.append(
                f"{source}: {key} uses account {account}, an example id from the AWS "
                "documentation (or LocalStack's): replace it with the real account"
            )
    cidrs = [
        ("external_cidrs", "the external party's", cidr) for cidr in config.access.external_cidrs
    ]
    cidrs += [("consumer_cidrs", "the consumer's", cidr) for cidr in config.access.consumer_cidrs]
    for key, whose, cidr in cidrs:
        network = ipaddress.ip_network(cidr)
        if any(network.overlaps(example) for example in EXAMPLE_NETWORKS):
            problems.append(
                f"{source}: access.{key} has {cidr}, a documentation range "
                f"(RFC 5737/3849): replace it with {whose} real source addresses"
            )
    if not config.alarms.email and not config.alarms.topic_arn:
        problems.append(
            f"{source}: alarms.email and alarms.topic_arn are both empty, so every alarm would "
            "notify nobody: set one of them (required outside local)"
        )
    return problems
