"""`aggregator deploy --env ENV`: package the functions and deploy the environment's stack.

1. validate `templates/environments/<env>.toml` (before any AWS call);
2. create/update the bootstrap stack `s3-aggregator-<env>-artifacts` (the artifacts bucket);
3. build the Lambda package reproducibly and upload it under its content hash (once);
4. create/update `s3-aggregator-<env>` through a change set, showing progress;
5. print the outputs. A failure lists the failed resources' reasons and exits non-zero; a deploy
   without changes says so and succeeds.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import NOT_FOUND_CODES
from scripts.changeset import DeployError, TemplateSource, apply_stack
from scripts.package import PackageError, build_package
from scripts.session import LOCAL_ENV, EnvSession
from templates.bootstrap import ARTIFACTS_OUTPUT, build_bootstrap_template
from templates.config import ConfigError, available_environments, load_config
from templates.functions import ARTIFACTS_BUCKET_PARAMETER, CODE_KEY_PARAMETER
from templates.names import artifacts_stack_name
from templates.stack import build_template

HELP = "package the functions and deploy the stack (ENV=local targets the embedded LocalStack)"
#: CloudFormation's limit for an inline TemplateBody; larger templates go through S3
INLINE_TEMPLATE_LIMIT = 51_200


def _compact(template: Any) -> str:
    text: str = template.to_json(indent=None, sort_keys=True, separators=(",", ":"))
    return text


def _object_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
            return False
        raise
    return True


def _template_url(session: EnvSession, bucket: str, key: str) -> str:
    if session.endpoint_url:
        return f"{session.endpoint_url.rstrip('/')}/{bucket}/{key}"
    return f"https://{bucket}.s3.{session.region}.amazonaws.com/{key}"


def upload_package(s3: Any, bucket: str, arch: str) -> str:
    """Build the package and upload it unless the bucket already holds it; returns its key."""
    package = build_package(arch)
    key = f"lambda/{package.name}"
    if _object_exists(s3, bucket, key):
        print(f"package {key}: already uploaded")
    else:
        started = time.monotonic()
        s3.upload_file(str(package), bucket, key)
        size_mb = package.stat().st_size / 1e6
        print(f"package {key}: uploaded {size_mb:.1f} MB in {time.monotonic() - started:.1f} s")
    return key


def template_source(session: EnvSession, s3: Any, bucket: str, body: str) -> TemplateSource:
    if len(body.encode()) <= INLINE_TEMPLATE_LIMIT:
        return TemplateSource(body=body)
    key = f"templates/{hashlib.sha256(body.encode()).hexdigest()[:16]}.json"
    if not _object_exists(s3, bucket, key):
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return TemplateSource(url=_template_url(session, bucket, key))


def deploy(env_name: str, endpoint_url: str | None = None) -> dict[str, str]:
    """Deploy environment ``env_name``; returns the pipeline stack's outputs."""
    config = load_config(env_name)
    session = EnvSession.for_env(env_name, endpoint_url)
    where = session.endpoint_url or f"AWS {session.region}"
    print(f"deploying {config.stack_name} to {where}")
    cloudformation = session.client("cloudformation")
    s3 = session.client("s3")
    bootstrap = apply_stack(
        cloudformation,
        artifacts_stack_name(env_name),
        TemplateSource(body=_compact(build_bootstrap_template(config))),
    )
    bucket = bootstrap.outputs[ARTIFACTS_OUTPUT]
    code_key = upload_package(s3, bucket, config.functions.architecture)
    source = template_source(session, s3, bucket, _compact(build_template(config)))
    result = apply_stack(
        cloudformation,
        config.stack_name,
        source,
        {ARTIFACTS_BUCKET_PARAMETER: bucket, CODE_KEY_PARAMETER: code_key},
    )
    print("outputs:")
    for key, value in sorted(result.outputs.items()):
        print(f"  {key} = {value}")
    return result.outputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", required=True, help="environment, one of: " + ", ".join(available_environments())
    )
    parser.add_argument(
        "--endpoint-url",
        default=None,
        help="AWS API endpoint (default: LocalStack for env local, AWS otherwise)",
    )


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        deploy(args.env, args.endpoint_url)
    except (ConfigError, DeployError, PackageError) as error:
        print(f"aggregator deploy: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        hint = (
            "is the embedded LocalStack running? start it with `make local-up`"
            if args.env == LOCAL_ENV
            else "check your AWS credentials and region (standard AWS chain)"
        )
        print(f"aggregator deploy: {error}\n  {hint}", file=sys.stderr)
        return 1
    print(f"deploy finished in {time.monotonic() - started:.1f} s")
    return 0
