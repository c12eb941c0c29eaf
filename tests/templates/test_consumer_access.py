"""The consumer's path to Distribution (issue 16): evaluated from the generated policies.

Each test builds the real template of a configuration, resolves its policies for one account
and region, and asks :mod:`tests.templates.policy_evaluation` whether a request is allowed: the
consumer role through the interface endpoint, from the internet, from inside and outside
``consumer_cidrs``, and anyone with TLS below 1.2.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final

import pytest

from templates import names
from templates.config import EnvironmentConfig, parse_config
from templates.consumer_access import CONSUMER_ENDPOINT, CONSUMER_ENDPOINT_SECURITY_GROUP
from templates.stack import build_template, render
from tests.environments import filled_config, filled_data
from tests.templates.policy_evaluation import Policies, Request, resolve

ACCOUNT: Final = "123456789012"
REGION: Final = "eu-west-2"
CREATED_ENDPOINT: Final = "vpce-0aaaaaaaaaaaaaaaa"
EXISTING_ENDPOINT: Final = "vpce-0bbbbbbbbbbbbbbbb"
OTHER_ENDPOINT: Final = "vpce-0ccccccccccccccccc"
ON_PREMISE_ADDRESS: Final = "10.20.3.4"
INTERNET_ADDRESS: Final = "198.51.100.7"
CONSUMER_ACTIONS: Final = (
    ("s3:ListBucket", ""),
    ("s3:GetObject", "/bundles/2026/01/01/00/b.gz"),
    ("s3:DeleteObject", "/bundles/2026/01/01/00/b.gz"),
)
MODERN_TLS: Final = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


def _config(env: str, **access: Any) -> EnvironmentConfig:
    data = filled_data(env)
    data["access"].update(copy.deepcopy(access))
    return parse_config(env, data)


class Stack:
    """The resolved policies of one configuration's template."""

    def __init__(self, config: EnvironmentConfig) -> None:
        self.config = config
        self.template: dict[str, Any] = json.loads(render(build_template(config)))
        self.role_arn = f"arn:aws:iam::{ACCOUNT}:role/{config.stack_name}-consumer"
        self.values = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            f"{names.CONSUMER_ROLE}.Arn": self.role_arn,
            CONSUMER_ENDPOINT: CREATED_ENDPOINT,
        }
        for kind, logical_id in (
            ("landing", names.LANDING_BUCKET),
            ("archive", names.ARCHIVE_BUCKET),
            ("distribution", names.DISTRIBUTION_BUCKET),
        ):
            self.values[f"{logical_id}.Arn"] = self.bucket_arn(kind)

    def bucket_arn(self, kind: str) -> str:
        return f"arn:aws:s3:::{self.config.stack_name}-{kind}-{ACCOUNT}-{REGION}"

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def policies(self, bucket: str = names.DISTRIBUTION_BUCKET) -> Policies:
        role = self.resources[names.CONSUMER_ROLE]["Properties"]
        endpoints = {}
        if CONSUMER_ENDPOINT in self.resources:
            document = self.resources[CONSUMER_ENDPOINT]["Properties"]["PolicyDocument"]
            endpoints[CREATED_ENDPOINT] = resolve(document, self.values)
        return Policies(
            identity=[resolve(p["PolicyDocument"], self.values) for p in role["Policies"]],
            bucket=resolve(
                self.resources[f"{bucket}Policy"]["Properties"]["PolicyDocument"], self.values
            ),
            endpoints=endpoints,
        )

    def consumer_requests(
        self, context: dict[str, str], endpoint: str | None = None, kind: str = "distribution"
    ) -> list[Request]:
        return [
            Request(
                principal=self.role_arn,
                action=action,
                resource=self.bucket_arn(kind) + suffix,
                context={**MODERN_TLS, **context},
                endpoint=endpoint,
            )
            for action, suffix in CONSUMER_ACTIONS
        ]


def _through(endpoint: str) -> dict[str, str]:
    """Context of a request through an interface endpoint (no aws:SourceIp there)."""
    return {"aws:SourceVpce": endpoint, "aws:VpcSourceIp": ON_PREMISE_ADDRESS}


@pytest.fixture(scope="module")
def privatelink() -> Stack:
    config = filled_config("prod")
    assert config.access.consumer_path == "privatelink"  # prod's example uses the private path
    return Stack(config)


def test_privatelink_consumer_is_allowed_through_the_endpoint(privatelink: Stack) -> None:
    policies = privatelink.policies()
    for request in privatelink.consumer_requests(_through(CREATED_ENDPOINT), CREATED_ENDPOINT):
        assert policies.allowed(request), request


def test_privatelink_consumer_is_denied_from_the_internet(privatelink: Stack) -> None:
    policies = privatelink.policies()
    for request in privatelink.consumer_requests({"aws:SourceIp": ON_PREMISE_ADDRESS}):
        assert not policies.allowed(request), request


def test_privatelink_consumer_is_denied_through_another_endpoint(privatelink: Stack) -> None:
    policies = Policies(
        identity=privatelink.policies().identity,
        bucket=privatelink.policies().bucket,
        endpoints={OTHER_ENDPOINT: {"Statement": [{"Effect": "Allow", "Principal": "*",
                                                   "Action": "*", "Resource": "*"}]}},
    )  # fmt: skip
    for request in privatelink.consumer_requests(_through(OTHER_ENDPOINT), OTHER_ENDPOINT):
        assert not policies.allowed(request), request


def test_endpoint_policy_admits_only_the_consumer_calls_on_distribution(
    privatelink: Stack,
) -> None:
    endpoint = privatelink.policies().endpoints[CREATED_ENDPOINT]
    landing = privatelink.policies(names.LANDING_BUCKET)
    through = _through(CREATED_ENDPOINT)
    # another bucket through the same endpoint: refused even where the bucket would allow it
    only_endpoint = Policies(landing.identity, landing.bucket, {CREATED_ENDPOINT: endpoint})
    for request in privatelink.consumer_requests(through, CREATED_ENDPOINT, kind="landing"):
        assert not only_endpoint.allowed(request), request
    put = Request(
        principal=privatelink.role_arn,
        action="s3:PutObject",
        resource=privatelink.bucket_arn("distribution") + "/bundles/x.gz",
        context={**MODERN_TLS, **through},
        endpoint=CREATED_ENDPOINT,
    )
    assert not privatelink.policies().allowed(put)


def test_privatelink_creates_endpoint_and_security_group_from_the_config(
    privatelink: Stack,
) -> None:
    link = privatelink.config.access.privatelink
    assert link is not None
    endpoint = privatelink.resources[CONSUMER_ENDPOINT]["Properties"]
    assert endpoint["VpcEndpointType"] == "Interface"
    assert endpoint["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}
    assert (endpoint["VpcId"], endpoint["SubnetIds"]) == (link.vpc_id, list(link.subnet_ids))
    assert endpoint["SecurityGroupIds"] == [{"Ref": CONSUMER_ENDPOINT_SECURITY_GROUP}]
    group = privatelink.resources[CONSUMER_ENDPOINT_SECURITY_GROUP]["Properties"]
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"])
            for r in group["SecurityGroupIngress"]] == [
        ("tcp", 443, 443, cidr) for cidr in privatelink.config.access.consumer_cidrs
    ]  # fmt: skip
    assert privatelink.template["Outputs"]["ConsumerEndpointId"]["Value"] == {
        "Ref": CONSUMER_ENDPOINT
    }


def test_an_existing_endpoint_is_used_instead_of_creating_one() -> None:
    stack = Stack(
        _config(
            "prod",
            consumer_cidrs=[],
            privatelink={"endpoint_id": EXISTING_ENDPOINT},
            consumer_endpoint_url=(
                f"https://bucket.{EXISTING_ENDPOINT}-abcd1234.s3.{REGION}.vpce.amazonaws.com"
            ),
        )
    )
    assert CONSUMER_ENDPOINT not in stack.resources
    assert CONSUMER_ENDPOINT_SECURITY_GROUP not in stack.resources
    existing_policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
                                      "Resource": "*"}]}  # fmt: skip
    base = stack.policies()
    policies = Policies(base.identity, base.bucket, {EXISTING_ENDPOINT: existing_policy})
    for request in stack.consumer_requests(_through(EXISTING_ENDPOINT), EXISTING_ENDPOINT):
        assert policies.allowed(request), request
    elsewhere = Policies(base.identity, base.bucket, {CREATED_ENDPOINT: existing_policy})
    for request in stack.consumer_requests(_through(CREATED_ENDPOINT), CREATED_ENDPOINT):
        assert not elsewhere.allowed(request), request
    for request in stack.consumer_requests({"aws:SourceIp": INTERNET_ADDRESS}):
        assert not policies.allowed(request), request


def test_internet_consumer_is_narrowed_to_its_cidrs() -> None:
    stack = Stack(_config("dev", consumer_path="internet", consumer_cidrs=["100.64.40.0/28"]))
    policies = stack.policies()
    for request in stack.consumer_requests({"aws:SourceIp": "100.64.40.7"}):
        assert policies.allowed(request), request
    for request in stack.consumer_requests({"aws:SourceIp": "100.64.40.77"}):
        assert not policies.allowed(request), request
    assert CONSUMER_ENDPOINT not in stack.resources
    assert "ConsumerEndpointId" not in stack.template["Outputs"]


def test_internet_consumer_without_cidrs_keeps_todays_behaviour() -> None:
    stack = Stack(filled_config("dev"))
    assert stack.config.access.consumer_cidrs == ()
    for address in (INTERNET_ADDRESS, ON_PREMISE_ADDRESS):
        for request in stack.consumer_requests({"aws:SourceIp": address}):
            assert stack.policies().allowed(request), request


@pytest.mark.parametrize("env", ["dev", "prod", "local"])
@pytest.mark.parametrize(
    "transport",
    [
        {"aws:SecureTransport": "true", "s3:TlsVersion": "1.1"},
        {"aws:SecureTransport": "true", "s3:TlsVersion": "1.0"},
        {"aws:SecureTransport": "false"},
    ],
)
def test_every_bucket_refuses_plain_http_and_tls_below_1_2(
    env: str, transport: dict[str, str]
) -> None:
    stack = Stack(filled_config(env))
    context = {**_through(CREATED_ENDPOINT), "aws:SourceIp": INTERNET_ADDRESS}
    anyone = [stack.role_arn, f"arn:aws:iam::{ACCOUNT}:role/{stack.config.stack_name}-copier"]
    for kind, bucket in (
        ("landing", names.LANDING_BUCKET),
        ("archive", names.ARCHIVE_BUCKET),
        ("distribution", names.DISTRIBUTION_BUCKET),
    ):
        bucket_policy = stack.policies(bucket).bucket
        for principal in anyone:
            request = Request(
                principal=principal,
                action="s3:GetObject",
                resource=stack.bucket_arn(kind) + "/bundles/x.gz",
                context={**context, **transport},
            )
            allow_all = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            assert not Policies([allow_all], bucket_policy).allowed(request), (kind, request)
            modern = Request(request.principal, request.action, request.resource,
                             {**context, **MODERN_TLS})  # fmt: skip
            assert Policies([allow_all], bucket_policy).allowed(modern), (kind, modern)
