"""Optional VPC placement of the functions, with S3 (gateway) and Firehose (interface) endpoints."""

from __future__ import annotations

from troposphere import GetAtt, Ref, Sub, Template
from troposphere.awslambda import VPCConfig
from troposphere.ec2 import SecurityGroup, SecurityGroupRule, VPCEndpoint

from templates.config import EnvironmentConfig, Network

FUNCTION_SECURITY_GROUP = "FunctionSecurityGroup"
ENDPOINT_SECURITY_GROUP = "EndpointSecurityGroup"


def vpc_config(config: EnvironmentConfig) -> VPCConfig | None:
    if config.network is None:
        return None
    return VPCConfig(
        SecurityGroupIds=[Ref(FUNCTION_SECURITY_GROUP)], SubnetIds=list(config.network.subnet_ids)
    )


def _resources(network: Network) -> list[object]:
    function_group = SecurityGroup(
        FUNCTION_SECURITY_GROUP,
        GroupDescription="Pipeline functions: HTTPS out to S3 and Firehose endpoints only",
        VpcId=network.vpc_id,
        SecurityGroupEgress=[
            SecurityGroupRule(
                IpProtocol="tcp",
                FromPort=443,
                ToPort=443,
                CidrIp="0.0.0.0/0",
                Description="HTTPS to AWS APIs (S3 gateway prefix list, Firehose endpoint)",
            )
        ],
    )
    endpoint_group = SecurityGroup(
        ENDPOINT_SECURITY_GROUP,
        GroupDescription="Firehose interface endpoint: HTTPS from the pipeline functions",
        VpcId=network.vpc_id,
        SecurityGroupIngress=[
            SecurityGroupRule(
                IpProtocol="tcp",
                FromPort=443,
                ToPort=443,
                SourceSecurityGroupId=GetAtt(FUNCTION_SECURITY_GROUP, "GroupId"),
                Description="HTTPS from the pipeline functions",
            )
        ],
        SecurityGroupEgress=[
            SecurityGroupRule(
                IpProtocol="-1",
                CidrIp="127.0.0.1/32",
                Description="No egress: the endpoint only answers",
            )
        ],
    )
    s3_endpoint = VPCEndpoint(
        "S3GatewayEndpoint",
        ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
        VpcEndpointType="Gateway",
        VpcId=network.vpc_id,
        RouteTableIds=list(network.route_table_ids),
    )
    firehose_endpoint = VPCEndpoint(
        "FirehoseInterfaceEndpoint",
        ServiceName=Sub("com.amazonaws.${AWS::Region}.kinesis-firehose"),
        VpcEndpointType="Interface",
        VpcId=network.vpc_id,
        SubnetIds=list(network.subnet_ids),
        SecurityGroupIds=[Ref(ENDPOINT_SECURITY_GROUP)],
        PrivateDnsEnabled=True,
    )
    return [function_group, endpoint_group, s3_endpoint, firehose_endpoint]


def add_network(template: Template, config: EnvironmentConfig) -> None:
    if config.network is None:
        return
    for resource in _resources(config.network):
        template.add_resource(resource)
