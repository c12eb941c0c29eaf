"""Evaluate the template's S3 policies for one request: the AWS rules this project relies on.

Neither moto (it ignores bucket-policy conditions) nor LocalStack community (no IAM enforcement)
evaluates ``aws:SourceVpce``, ``aws:SourceIp`` or ``s3:TlsVersion``, so the permission tests
evaluate the generated policies here, following the IAM policy evaluation logic:

- an explicit ``Deny`` in any applicable policy wins;
- within one account, a request is allowed when the identity policy *or* the bucket policy
  allows it; a request through a VPC endpoint must *also* be allowed by the endpoint policy;
- a condition key absent from the request makes a positive operator false and a negated one
  (``StringNotEquals``, ``NotIpAddress``) true; several values of one key are OR-ed (for negated
  operators: the request value matches none of them);
- a role ARN as ``Principal`` matches the role's sessions.

Only the operators the templates use are modelled; any other raises, so a template change that
needs more fails the tests instead of being evaluated wrongly.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Effect = Literal["Allow", "Deny", "NotApplicable"]
_SUB_VARIABLE = re.compile(r"\$\{([^}!]*)\}")


class UnsupportedPolicyError(ValueError):
    """The policy uses an element or operator this evaluator does not model."""


@dataclass(frozen=True)
class Request:
    """One S3 request: who, what, on which ARN, and the request context keys present."""

    principal: str
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    #: the VPC endpoint the request came through (its policy then applies too)
    endpoint: str | None = None


def resolve(node: Any, values: Mapping[str, str]) -> Any:
    """``node`` with ``Ref``, ``Fn::GetAtt`` and ``Fn::Sub`` replaced from ``values``.

    ``values`` maps logical ids (for ``Ref``), ``Id.Attribute`` (for ``Fn::GetAtt``) and pseudo
    parameters (``AWS::Region``); a missing name raises ``KeyError``.
    """
    if isinstance(node, dict):
        if list(node) == ["Ref"]:
            return values[node["Ref"]]
        if list(node) == ["Fn::GetAtt"]:
            return values[".".join(node["Fn::GetAtt"])]
        if list(node) == ["Fn::Sub"]:
            if not isinstance(node["Fn::Sub"], str):
                raise UnsupportedPolicyError(f"Fn::Sub with a variable map: {node!r}")
            return _SUB_VARIABLE.sub(lambda match: values[match.group(1)], node["Fn::Sub"])
        intrinsics = [key for key in node if key.startswith("Fn::")]
        if intrinsics:
            raise UnsupportedPolicyError(f"intrinsic {intrinsics} is not modelled: {node!r}")
        return {key: resolve(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, values) for item in node]
    return node


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(statement: Mapping[str, Any], principal: str) -> bool:
    if "Principal" not in statement:  # identity policy: the principal is the policy's owner
        return True
    given = statement["Principal"]
    if given == "*":
        return True
    if set(given) != {"AWS"}:
        raise UnsupportedPolicyError(f"principal {given!r} is not modelled")
    return any(p == "*" or p == principal for p in _as_list(given["AWS"]))


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in _as_list(patterns))


def _in_cidr(address: str, cidr: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


_POSITIVE: dict[str, Callable[[str, Any], bool]] = {
    "StringEquals": lambda actual, expected: actual == expected,
    "IpAddress": _in_cidr,
    "Bool": lambda actual, expected: actual.lower() == str(expected).lower(),
    "NumericLessThan": lambda actual, expected: float(actual) < float(expected),
}
_NEGATED = {"StringNotEquals": "StringEquals", "NotIpAddress": "IpAddress"}


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    if operator in _NEGATED:
        return key not in context or not _condition_holds(
            _NEGATED[operator], key, expected, context
        )
    if operator not in _POSITIVE:
        raise UnsupportedPolicyError(f"condition operator {operator!r} is not modelled")
    if key not in context:
        return False
    return any(_POSITIVE[operator](context[key], value) for value in _as_list(expected))


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "NotAction" in statement or "NotResource" in statement or "NotPrincipal" in statement:
        raise UnsupportedPolicyError(f"statement {statement.get('Sid')!r} uses a Not* element")
    return (
        _principal_matches(statement, request.principal)
        and _matches(statement["Action"], request.action)
        and _matches(statement["Resource"], request.resource)
        and all(
            _condition_holds(operator, key, expected, request.context)
            for operator, keys in statement.get("Condition", {}).items()
            for key, expected in keys.items()
        )
    )


def evaluate(policy: Mapping[str, Any], request: Request) -> Effect:
    """One policy's verdict: Deny if any applicable statement denies, else Allow if one allows."""
    effects = {s["Effect"] for s in _statements(policy) if _applies(s, request)}
    if "Deny" in effects:
        return "Deny"
    return "Allow" if "Allow" in effects else "NotApplicable"


def _statements(policy: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from _as_list(policy["Statement"])


@dataclass(frozen=True)
class Policies:
    """The policies S3 consults for a same-account request."""

    identity: list[Mapping[str, Any]]
    bucket: Mapping[str, Any]
    endpoints: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def allowed(self, request: Request) -> bool:
        verdicts = [evaluate(policy, request) for policy in self.identity]
        verdicts.append(evaluate(self.bucket, request))
        if request.endpoint is not None:
            endpoint_verdict = evaluate(self.endpoints[request.endpoint], request)
            if endpoint_verdict != "Allow":
                return False
        return "Deny" not in verdicts and "Allow" in verdicts
