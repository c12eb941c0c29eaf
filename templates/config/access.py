"""`[access]` (who reaches the buckets, from where, by which path) and `[network]`."""

from __future__ import annotations

import ipaddress
import re
from typing import cast

from templates.config.reader import Table
from templates.config.schema import (
    CONSUMER_PATHS,
    PRINCIPAL_PATTERN,
    ROUTE_TABLE_PATTERN,
    S3_INTERFACE_ENDPOINT_URL,
    SUBNET_PATTERN,
    VPC_ENDPOINT_PATTERN,
    VPC_PATTERN,
    Access,
    ConsumerPath,
    Network,
    PrivateLink,
)


def _cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return False
    return True


def _cidrs(table: Table, key: str, required: bool) -> tuple[str, ...]:
    cidrs = table.strings(
        key, re.compile(r".+"), "CIDR blocks like 203.0.113.0/24", required=required
    )
    for cidr in cidrs:
        if not _cidr(cidr):
            raise table.error(key, cidr, "a CIDR block like 203.0.113.0/24")
    if any(ipaddress.ip_network(cidr).prefixlen == 0 for cidr in cidrs):
        raise table.error(key, list(cidrs), "CIDR blocks narrower than /0")
    return cidrs


def _privatelink(table: Table, cidrs: tuple[str, ...]) -> PrivateLink:
    endpoint_id = table.optional_string(
        "endpoint_id", VPC_ENDPOINT_PATTERN, "an endpoint id like vpce-0123456789abcdef0"
    )
    vpc_id = table.optional_string("vpc_id", VPC_PATTERN, "a VPC id like vpc-0123456789abcdef0")
    subnet_ids = table.strings(
        "subnet_ids", SUBNET_PATTERN, "subnet ids like subnet-0123abcd", required=False
    )
    table.close()
    if endpoint_id is not None:
        if vpc_id is not None or subnet_ids:
            raise table.error(
                "endpoint_id", endpoint_id, "either endpoint_id or vpc_id + subnet_ids, not both"
            )
        if cidrs:
            raise table.error(
                "endpoint_id",
                endpoint_id,
                "no access.consumer_cidrs with an existing endpoint (its own security group "
                "admits the on-premise networks)",
            )
    elif vpc_id is None or not subnet_ids:
        raise table.error(
            "vpc_id", vpc_id or "", "a VPC id and a non-empty subnet_ids (or an endpoint_id)"
        )
    elif not cidrs:
        raise table.error(
            "vpc_id",
            vpc_id,
            "a non-empty access.consumer_cidrs with it: the endpoint's security group admits "
            "HTTPS only from these on-premise networks",
        )
    return PrivateLink(vpc_id=vpc_id, subnet_ids=subnet_ids, endpoint_id=endpoint_id)


def read_access(table: Table) -> Access:
    principal_help = "an IAM ARN like arn:aws:iam::123456789012:root or …:role/name"
    cidrs = _cidrs(table, "external_cidrs", required=True)
    consumer_path = cast(ConsumerPath, table.choice("consumer_path", CONSUMER_PATHS, "internet"))
    consumer_cidrs = _cidrs(table, "consumer_cidrs", required=False)
    endpoint_url = table.optional_string(
        "consumer_endpoint_url",
        S3_INTERFACE_ENDPOINT_URL,
        "an S3 interface endpoint URL like "
        "https://bucket.vpce-0123456789abcdef0-abcd1234.s3.eu-west-2.vpce.amazonaws.com",
    )
    privatelink_table = table.table("privatelink", required=False)
    if consumer_path == "privatelink":
        if privatelink_table is None:
            raise table.error(
                "consumer_path",
                consumer_path,
                '"internet", or add [access.privatelink] with vpc_id + subnet_ids (the stack '
                "creates the endpoint) or endpoint_id (an existing S3 interface endpoint)",
            )
        privatelink: PrivateLink | None = _privatelink(privatelink_table, consumer_cidrs)
        match = S3_INTERFACE_ENDPOINT_URL.fullmatch(endpoint_url or "")
        existing = privatelink.endpoint_id if privatelink else None
        if match and existing and not match["endpoint"].startswith(existing + "-"):
            raise table.error(
                "consumer_endpoint_url",
                endpoint_url,
                f"the DNS name of access.privatelink.endpoint_id ({existing}-….s3.…)",
            )
    elif privatelink_table is not None:
        raise table.error(
            "privatelink", "{...}", 'no [access.privatelink] unless consumer_path = "privatelink"'
        )
    else:
        privatelink = None
        if endpoint_url is not None:
            raise table.error(
                "consumer_endpoint_url", endpoint_url, '"" unless consumer_path = "privatelink"'
            )
    result = Access(
        external_principal=table.string("external_principal", PRINCIPAL_PATTERN, principal_help),
        external_cidrs=cidrs,
        consumer_principal=table.string("consumer_principal", PRINCIPAL_PATTERN, principal_help),
        consumer_path=consumer_path,
        consumer_cidrs=consumer_cidrs,
        consumer_endpoint_url=endpoint_url,
        privatelink=privatelink,
    )
    table.close()
    return result


def read_network(table: Table | None) -> Network | None:
    if table is None:
        return None
    result = Network(
        vpc_id=table.string("vpc_id", VPC_PATTERN, "a VPC id like vpc-0123456789abcdef0"),
        subnet_ids=table.strings("subnet_ids", SUBNET_PATTERN, "subnet ids like subnet-0123abcd"),
        route_table_ids=table.strings(
            "route_table_ids", ROUTE_TABLE_PATTERN, "route table ids like rtb-0123abcd"
        ),
    )
    table.close()
    return result
