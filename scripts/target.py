"""Which environment `aggregator deploy`, `diff` and `destroy` act on, and where (their preamble).

Each takes ``--env`` (one of templates/environments/) and ``--endpoint-url`` (cli.py adds
``--region``/``--profile`` to every parser that has it), resolves them to a session
(scripts/session.py) and asks STS which account its credentials belong to, before it changes
anything; deploy and diff also validate the environment's config first and show where they go.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from scripts.session import EnvSession
from templates.config import EnvironmentConfig, available_environments, load_config


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--env`` (required) and ``--endpoint-url``."""
    parser.add_argument(
        "--env", required=True, help="environment, one of: " + ", ".join(available_environments())
    )
    parser.add_argument(
        "--endpoint-url",
        default=None,
        help="AWS API endpoint (default: AWS_ENDPOINT_URL; LocalStack for env local)",
    )


def account_id(session: EnvSession) -> str:
    """The account the credentials belong to (LocalStack answers 000000000000)."""
    return str(session.client("sts").get_caller_identity()["Account"])


@dataclass(frozen=True)
class Target:
    """The session the arguments ask for and the account its credentials belong to."""

    session: EnvSession
    account: str

    @classmethod
    def from_args(cls, args: argparse.Namespace, *, interactive: bool = False) -> Target:
        session = EnvSession.from_args(args, interactive=interactive)
        return cls(session, account_id(session))


@dataclass(frozen=True)
class ConfiguredTarget(Target):
    """A :class:`Target` with its environment's validated config (deploy, diff)."""

    config: EnvironmentConfig

    @classmethod
    def load(cls, args: argparse.Namespace, *, interactive: bool = False) -> ConfiguredTarget:
        """Validate the config (before any AWS call), then resolve the session and account."""
        config = load_config(args.env)
        target = Target.from_args(args, interactive=interactive)
        return cls(target.session, target.account, config)

    @property
    def where(self) -> str:
        """``environment <env>: account …, region …[, endpoint …][, profile …]``."""
        endpoint = f", endpoint {self.session.endpoint_url}" if self.session.endpoint_url else ""
        profile = f", profile {self.session.profile}" if self.session.profile else ""
        return (
            f"environment {self.config.name}: account {self.account}, "
            f"region {self.session.region}{endpoint}{profile}"
        )
