"""The ``privatelink`` consumer path deploys on the embedded LocalStack (issue 16).

The test makes a VPC and two subnets in LocalStack's EC2, configures the ``local`` environment
with ``consumer_path = "privatelink"`` in them, deploys the whole pipeline stack and reads back
what was created: the S3 interface endpoint (its VPC, subnets, security group and policy), the
security group's HTTPS-only ingress and the Distribution policy pinned to the endpoint.
LocalStack does not enforce the policies (tests/templates/test_consumer_access.py evaluates them).
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest

from scripts.session import EnvSession
from templates.config import ENVIRONMENTS_DIR, EnvironmentConfig, parse_config
from tests.integration.conftest import localstack  # noqa: F401 - the session fixture
from tests.templates.local_stack import deploy_variant

pytestmark = pytest.mark.integration

ENV_NAME = "plink"  # its own stack name: never collides with the `local` deployment
ON_PREMISE = "10.20.0.0/16"


def _config(vpc_id: str, subnet_ids: list[str]) -> EnvironmentConfig:
    data = tomllib.loads((ENVIRONMENTS_DIR / "local.toml").read_text())
    data["access"].update(
        consumer_path="privatelink",
        consumer_cidrs=[ON_PREMISE],
        privatelink={"vpc_id": vpc_id, "subnet_ids": subnet_ids},
    )
    # local.toml's accounts are LocalStack's, and this stack only ever deploys there
    return parse_config(ENV_NAME, data, source="local.toml + privatelink", deployable=False)


def _network(ec2: Any, region: str) -> tuple[str, list[str]]:
    vpc_id = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.99.{index}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]["SubnetId"]
        for index, zone in enumerate("ab")
    ]
    return vpc_id, subnets


def test_privatelink_variant_deploys_endpoint_security_group_and_pinned_policy(
    localstack: str,  # noqa: F811
) -> None:
    session = EnvSession.for_env("local", localstack)
    ec2 = session.client("ec2")
    vpc_id, subnet_ids = _network(ec2, session.region)
    config = _config(vpc_id, subnet_ids)

    outputs = deploy_variant(session, config)

    endpoint_id = outputs["ConsumerEndpointId"]
    assert endpoint_id.startswith("vpce-")
    [endpoint] = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    assert endpoint["VpcEndpointType"] == "Interface"
    assert endpoint["ServiceName"] == f"com.amazonaws.{session.region}.s3"
    assert endpoint["VpcId"] == vpc_id
    assert sorted(endpoint["SubnetIds"]) == sorted(subnet_ids)
    [group_id] = [group["GroupId"] for group in endpoint["Groups"]]
    endpoint_policy = json.loads(endpoint["PolicyDocument"])
    distribution = outputs["DistributionBucketName"]
    resources = {str(r) for s in endpoint_policy["Statement"] for r in _as_list(s["Resource"])}
    assert resources == {f"arn:aws:s3:::{distribution}", f"arn:aws:s3:::{distribution}/*"}

    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group["VpcId"] == vpc_id
    assert [
        (
            rule["IpProtocol"],
            rule["FromPort"],
            rule["ToPort"],
            [r["CidrIp"] for r in rule["IpRanges"]],
        )
        for rule in group["IpPermissions"]
    ] == [("tcp", 443, 443, [ON_PREMISE])]
    egress = [(rule["IpProtocol"], rule["IpRanges"]) for rule in group["IpPermissionsEgress"]]
    assert [(protocol, [r["CidrIp"] for r in ranges]) for protocol, ranges in egress] == [
        ("-1", ["127.0.0.1/32"])
    ]

    s3 = session.client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=distribution)["Policy"])
    pinned = [
        s for s in policy["Statement"] if s.get("Sid") == "ConsumerOnlyThroughInterfaceEndpoint"
    ]
    assert [s["Condition"] for s in pinned] == [
        {"StringNotEquals": {"aws:SourceVpce": endpoint_id}}
    ]
    assert any(s.get("Sid") == "DenyOutdatedTls" for s in policy["Statement"])

    cloudformation = session.client("cloudformation")
    cloudformation.delete_stack(StackName=config.stack_name)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
