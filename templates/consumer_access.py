"""The on-premise consumer's way to Distribution: over the internet or through AWS PrivateLink.

``[access] consumer_path`` chooses (see docs/architecture.md, Network):

- ``"internet"``: the consumer role reaches S3's public endpoints; with ``consumer_cidrs`` the
  Distribution policy denies the role any request whose ``aws:SourceIp`` is outside them.
- ``"privatelink"``: an S3 *interface* endpoint in the given VPC/subnets (or an existing one),
  reachable from on premise over VPN/Direct Connect; a security group admits HTTPS only from the
  on-premise CIDRs; the endpoint policy allows only the consumer's calls on Distribution; the
  Distribution policy denies the role any request not made through the endpoint
  (``aws:SourceVpce``). A *gateway* endpoint would not do: it is reachable only from inside its VPC.
"""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Output, Ref, Sub, Template
from troposphere.ec2 import SecurityGroup, SecurityGroupRule, VPCEndpoint

from templates import names
from templates.config import EnvironmentConfig

CONSUMER_ENDPOINT = "ConsumerS3InterfaceEndpoint"
CONSUMER_ENDPOINT_SECURITY_GROUP = "ConsumerEndpointSecurityGroup"
#: the only calls the consumer makes (scripts/consumer): list, fetch, remove
CONSUMER_BUCKET_ACTIONS = ("s3:ListBucket",)
CONSUMER_OBJECT_ACTIONS = ("s3:GetObject", "s3:DeleteObject")


def _distribution_resources() -> list[Any]:
    return [
        GetAtt(names.DISTRIBUTION_BUCKET, "Arn"),
        Sub(f"${{{names.DISTRIBUTION_BUCKET}.Arn}}/*"),
    ]


def endpoint_id(config: EnvironmentConfig) -> Any:
    """The consumer's interface endpoint: the configured id, or a Ref to the one created here."""
    link = config.access.privatelink
    if link is None:
        raise ValueError(f'{config.name}: consumer_path is not "privatelink"')
    return link.endpoint_id or Ref(CONSUMER_ENDPOINT)


def endpoint_policy() -> dict[str, Any]:
    """Interface endpoint policy: the consumer role's List/Get/Delete on Distribution only."""
    consumer = {"AWS": GetAtt(names.CONSUMER_ROLE, "Arn")}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConsumerListsDistribution",
                "Effect": "Allow",
                "Principal": consumer,
                "Action": list(CONSUMER_BUCKET_ACTIONS),
                "Resource": GetAtt(names.DISTRIBUTION_BUCKET, "Arn"),
            },
            {
                "Sid": "ConsumerFetchesAndRemovesBundles",
                "Effect": "Allow",
                "Principal": consumer,
                "Action": list(CONSUMER_OBJECT_ACTIONS),
                "Resource": Sub(f"${{{names.DISTRIBUTION_BUCKET}.Arn}}/*"),
            },
        ],
    }


def distribution_statements(config: EnvironmentConfig) -> list[dict[str, Any]]:
    """Deny statements of the Distribution policy that pin the consumer role to its path."""
    access = config.access
    consumer = {"AWS": GetAtt(names.CONSUMER_ROLE, "Arn")}
    if access.consumer_path == "privatelink":
        return [
            {
                "Sid": "ConsumerOnlyThroughInterfaceEndpoint",
                "Effect": "Deny",
                "Principal": consumer,
                "Action": "s3:*",
                "Resource": _distribution_resources(),
                "Condition": {"StringNotEquals": {"aws:SourceVpce": endpoint_id(config)}},
            }
        ]
    if access.consumer_cidrs:
        return [
            {
                "Sid": "ConsumerOnlyFromAllowedAddresses",
                "Effect": "Deny",
                "Principal": consumer,
                "Action": "s3:*",
                "Resource": _distribution_resources(),
                "Condition": {"NotIpAddress": {"aws:SourceIp": list(access.consumer_cidrs)}},
            }
        ]
    return []


def _resources(config: EnvironmentConfig) -> list[Any]:
    link = config.access.privatelink
    if link is None or link.endpoint_id is not None:
        return []  # internet path, or an existing endpoint with its own security groups
    group = SecurityGroup(
        CONSUMER_ENDPOINT_SECURITY_GROUP,
        GroupDescription="S3 interface endpoint of the on-premise consumer: HTTPS from on premise",
        VpcId=link.vpc_id,
        SecurityGroupIngress=[
            SecurityGroupRule(
                IpProtocol="tcp",
                FromPort=443,
                ToPort=443,
                CidrIp=cidr,
                Description="HTTPS from the on-premise consumer network",
            )
            for cidr in config.access.consumer_cidrs
        ],
        SecurityGroupEgress=[
            SecurityGroupRule(
                IpProtocol="-1",
                CidrIp="127.0.0.1/32",
                Description="No egress: the endpoint only answers",
            )
        ],
    )
    endpoint = VPCEndpoint(
        CONSUMER_ENDPOINT,
        ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
        VpcEndpointType="Interface",
        VpcId=link.vpc_id,
        SubnetIds=list(link.subnet_ids),
        SecurityGroupIds=[Ref(CONSUMER_ENDPOINT_SECURITY_GROUP)],
        # endpoint-specific DNS names (bucket.vpce-….s3.<region>.vpce.amazonaws.com): private
        # DNS for S3 would also redirect the VPC's other S3 traffic to this endpoint
        PrivateDnsEnabled=False,
        PolicyDocument=endpoint_policy(),
    )
    return [group, endpoint]


def add_consumer_access(template: Template, config: EnvironmentConfig) -> None:
    for resource in _resources(config):
        template.add_resource(resource)
    if config.access.consumer_path == "privatelink":
        template.add_output(
            Output(
                "ConsumerEndpointId",
                Value=endpoint_id(config),
                Description="S3 interface endpoint the consumer must use (aws:SourceVpce)",
            )
        )
