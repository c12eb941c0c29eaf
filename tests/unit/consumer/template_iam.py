"""The consumer role and the Distribution bucket name, read from the real template.

The template names resources with ``Fn::Sub`` over the ``AWS::Partition``, ``AWS::Region`` and
``AWS::AccountId`` pseudo parameters; :func:`resolve` substitutes exactly those and raises
:class:`UnsupportedIntrinsicError` for any other intrinsic (``Ref``, ``Fn::Join``, ``Fn::GetAtt``,
``Fn::Sub`` with a variable map, another variable), so a template change that needs more makes
the permission tests fail loudly instead of testing a policy that is not the deployed one.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from templates import names
from templates.stack import build_template
from tests.environments import filled_config

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class UnsupportedIntrinsicError(ValueError):
    """The template uses an intrinsic function this resolver does not implement."""


@dataclass(frozen=True, slots=True)
class PseudoParameters:
    partition: str
    region: str
    account_id: str

    def value(self, name: str) -> str:
        values = {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
        }
        if name not in values:
            raise UnsupportedIntrinsicError(
                f"Fn::Sub variable ${{{name}}} is not a supported pseudo parameter "
                f"({', '.join(sorted(values))}): extend tests/unit/consumer/template_iam.py"
            )
        return values[name]


@dataclass(frozen=True, slots=True)
class ConsumerRole:
    """The consumer role's trust policy and inline policies (name -> document), resolved."""

    trust_policy: dict[str, Any]
    policies: dict[str, dict[str, Any]]


def resolve(node: Any, pseudo: PseudoParameters) -> Any:
    """``node`` with every ``{"Fn::Sub": "<text>"}`` replaced by its text; anything else fails."""
    if isinstance(node, dict):
        intrinsics = [key for key in node if key == "Ref" or key.startswith("Fn::")]
        if not intrinsics:
            return {key: resolve(value, pseudo) for key, value in node.items()}
        if list(node) != ["Fn::Sub"]:
            raise UnsupportedIntrinsicError(f"intrinsic {intrinsics} is not supported: {node!r}")
        return _sub(node["Fn::Sub"], pseudo)
    if isinstance(node, list):
        return [resolve(item, pseudo) for item in node]
    if node is None or isinstance(node, str | int | float | bool):
        return node
    raise UnsupportedIntrinsicError(f"unexpected {type(node).__name__} in the template: {node!r}")


def _sub(argument: Any, pseudo: PseudoParameters) -> str:
    if not isinstance(argument, str):
        raise UnsupportedIntrinsicError(
            f"Fn::Sub with a variable map is not supported: {argument!r}"
        )
    if "${!" in argument:
        raise UnsupportedIntrinsicError(f"Fn::Sub literal '${{!' is not supported: {argument!r}")
    return _SUB_VARIABLE.sub(lambda match: pseudo.value(match.group(1)), argument)


def template_resources(env_name: str) -> dict[str, Any]:
    """The ``Resources`` of the environment's stack template, as built for deployment."""
    resources: dict[str, Any] = build_template(filled_config(env_name)).to_dict()["Resources"]
    return resources


def consumer_role(resources: dict[str, Any], pseudo: PseudoParameters) -> ConsumerRole:
    properties = resources[names.CONSUMER_ROLE]["Properties"]
    unexpected = set(properties) - {"AssumeRolePolicyDocument", "Policies"}
    if unexpected:  # e.g. managed policies: they would grant more than the inline policies
        raise UnsupportedIntrinsicError(f"consumer role properties not modelled: {unexpected}")
    return ConsumerRole(
        trust_policy=resolve(properties["AssumeRolePolicyDocument"], pseudo),
        policies={
            policy["PolicyName"]: resolve(policy["PolicyDocument"], pseudo)
            for policy in properties["Policies"]
        },
    )


def distribution_bucket_name(resources: dict[str, Any], pseudo: PseudoParameters) -> str:
    name = resolve(resources[names.DISTRIBUTION_BUCKET]["Properties"]["BucketName"], pseudo)
    if not isinstance(name, str):
        raise UnsupportedIntrinsicError(f"Distribution BucketName is not a string: {name!r}")
    return name


def without_action(role: ConsumerRole, action: str) -> ConsumerRole:
    """The role with ``action`` removed from every statement; fails if no statement grants it."""
    policies = copy.deepcopy(role.policies)
    removed = 0
    for document in policies.values():
        kept = []
        for statement in document["Statement"]:
            actions = statement["Action"]
            granted = [actions] if isinstance(actions, str) else list(actions)
            if action in granted:
                granted.remove(action)
                removed += 1
                statement["Action"] = granted
            if granted:  # IAM refuses a statement without actions
                kept.append(statement)
        document["Statement"] = kept
    if not removed:
        raise ValueError(f"no statement of the consumer role grants {action}")
    return ConsumerRole(trust_policy=role.trust_policy, policies=policies)
