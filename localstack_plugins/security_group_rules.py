"""CloudFormation security groups keep their inline rules, as on AWS.

LocalStack 2026.3.0's ``AWS::EC2::SecurityGroup`` provider creates the group and ignores its
``SecurityGroupIngress`` and ``SecurityGroupEgress`` properties: a deployed group admits nothing
and keeps the default allow-all egress, whatever the template says. :func:`install` wraps the
provider's ``create`` so that, as on AWS, the inline ingress rules are authorized and, when
inline egress rules are given for a VPC group, they replace the default egress rule.

Only creation is covered (the project's stacks never change a group's rules in place; a changed
rule set is a replacement in tests). Applied at launch by :mod:`localstack_plugins.launch`.
"""

from __future__ import annotations

import functools
from typing import Any

#: the egress rule EC2 adds to every new VPC security group
DEFAULT_EGRESS = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def permission(rule: dict[str, Any]) -> dict[str, Any]:
    """An EC2 ``IpPermission`` from a CloudFormation inline rule (Ingress or Egress property)."""
    result: dict[str, Any] = {"IpProtocol": str(rule["IpProtocol"])}
    for port in ("FromPort", "ToPort"):
        if port in rule:
            result[port] = int(rule[port])
    described = {"Description": rule["Description"]} if rule.get("Description") else {}
    if "CidrIp" in rule:
        result["IpRanges"] = [{"CidrIp": rule["CidrIp"], **described}]
    elif "CidrIpv6" in rule:
        result["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"], **described}]
    elif "SourceSecurityGroupId" in rule or "DestinationSecurityGroupId" in rule:
        group = rule.get("SourceSecurityGroupId") or rule["DestinationSecurityGroupId"]
        result["UserIdGroupPairs"] = [{"GroupId": group, **described}]
    elif "SourcePrefixListId" in rule or "DestinationPrefixListId" in rule:
        prefix_list = rule.get("SourcePrefixListId") or rule["DestinationPrefixListId"]
        result["PrefixListIds"] = [{"PrefixListId": prefix_list, **described}]
    else:
        raise ValueError(f"security group rule without a peer: {rule!r}")
    return result


def apply_inline_rules(ec2: Any, model: dict[str, Any]) -> None:
    """Authorize the model's inline rules on the created group ``model["GroupId"]``."""
    group_id = model["GroupId"]
    ingress = model.get("SecurityGroupIngress") or []
    if ingress:
        ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=[permission(rule) for rule in ingress]
        )
    egress = model.get("SecurityGroupEgress") or []
    if egress and model.get("VpcId"):
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[DEFAULT_EGRESS])
        ec2.authorize_security_group_egress(
            GroupId=group_id, IpPermissions=[permission(rule) for rule in egress]
        )


def install() -> None:
    from localstack.services.cloudformation.resource_provider import OperationStatus
    from localstack.services.ec2.resource_providers.aws_ec2_securitygroup import (
        EC2SecurityGroupProvider,
    )

    original = EC2SecurityGroupProvider.create

    @functools.wraps(original)
    def create(self: Any, request: Any) -> Any:
        event = original(self, request)
        if event.status == OperationStatus.SUCCESS:
            apply_inline_rules(request.aws_client_factory.ec2, request.desired_state)
        return event

    EC2SecurityGroupProvider.create = create  # type: ignore[method-assign]
