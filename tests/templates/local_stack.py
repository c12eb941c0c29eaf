"""Deploying a configuration variant of the pipeline on the test session's LocalStack."""

from __future__ import annotations

import json

from scripts.changeset import TemplateSource, apply_stack
from scripts.deploy import template_source, upload_package
from scripts.session import EnvSession
from templates.bootstrap import ARTIFACTS_OUTPUT, build_bootstrap_template
from templates.config import EnvironmentConfig
from templates.functions import ARTIFACTS_BUCKET_PARAMETER, CODE_KEY_PARAMETER
from templates.names import artifacts_stack_name
from templates.stack import build_template, render


def deploy_variant(session: EnvSession, config: EnvironmentConfig) -> dict[str, str]:
    """The artifacts stack, the Lambda package and the pipeline stack of ``config``; its outputs."""
    cloudformation = session.client("cloudformation")
    bootstrap = apply_stack(
        cloudformation,
        artifacts_stack_name(config.name),
        TemplateSource(body=render(build_bootstrap_template(config))),
        show_progress=False,
    )
    bucket = bootstrap.outputs[ARTIFACTS_OUTPUT]
    s3 = session.client("s3")
    code_key = upload_package(s3, bucket, config.functions.architecture)
    body = json.dumps(build_template(config).to_dict(), separators=(",", ":"))
    result = apply_stack(
        cloudformation,
        config.stack_name,
        template_source(session, s3, bucket, body),
        {ARTIFACTS_BUCKET_PARAMETER: bucket, CODE_KEY_PARAMETER: code_key},
        show_progress=False,
    )
    return result.outputs
