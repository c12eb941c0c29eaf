"""The consumer's S3 interface endpoint (AWS PrivateLink for Amazon S3) as a client endpoint URL.

On the private path (``[access] consumer_path = "privatelink"``) the consumer sends its S3 calls
to the endpoint-specific DNS name of the interface endpoint, bucket form::

    https://bucket.vpce-0123456789abcdef0-abcd1234.s3.eu-west-2.vpce.amazonaws.com

boto3 takes it as ``endpoint_url`` (its guide "AWS PrivateLink for Amazon S3"); with a custom
endpoint botocore addresses buckets path-style, ``https://bucket.vpce-….amazonaws.com/<bucket>/<key>``,
which the endpoint serves. Requests are signed for the region in the name. Only S3 goes there:
CloudFormation and STS keep their own endpoints.
"""

from __future__ import annotations

from pathlib import Path

from templates.config import (
    ENVIRONMENTS_DIR,
    S3_INTERFACE_ENDPOINT_URL,
    available_environments,
    load_config,
)


def is_interface_endpoint(url: str | None) -> bool:
    return url is not None and S3_INTERFACE_ENDPOINT_URL.fullmatch(url) is not None


def endpoint_region(url: str | None) -> str | None:
    """The region of an S3 interface endpoint URL; None for any other URL."""
    match = S3_INTERFACE_ENDPOINT_URL.fullmatch(url or "")
    return match["region"] if match else None


def configured_endpoint(env_name: str, directory: Path = ENVIRONMENTS_DIR) -> str | None:
    """``[access] consumer_endpoint_url`` of the environment, if it has a config file."""
    if env_name not in available_environments(directory):
        return None
    return load_config(env_name, directory, deployable=False).access.consumer_endpoint_url


def check_region(url: str | None, region: str) -> None:
    """Refuse an interface endpoint of another region: S3 would reject every signature."""
    named = endpoint_region(url)
    if named is not None and named != region:
        raise ValueError(
            f"the S3 interface endpoint {url} is in {named} but the client region is {region}: "
            f"set AWS_REGION={named} (or use the endpoint of the Distribution bucket's region)"
        )
