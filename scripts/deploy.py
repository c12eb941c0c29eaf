"""`aggregator deploy --env ENV`: package the functions and deploy the environment's stack.

1. validate `templates/environments/<env>.toml` (before any AWS call);
2. show where it goes: account id, region, endpoint;
3. create/update the bootstrap stack `s3-aggregator-<env>-artifacts` (the artifacts bucket);
4. build the Lambda package reproducibly and upload it under its content hash (once);
5. create a change set for `s3-aggregator-<env>`, show it as a table (a replaced bucket in red),
   and ask before executing it (`--yes` for CI; `--no-execute` leaves it for review);
6. print the outputs. A failure lists the failed resources' reasons and exits non-zero; a deploy
   without changes says so and succeeds.

`aggregator diff` (scripts/diff.py) runs steps 1, 2 and 5 and discards the change sets.
Every stack is tagged ``project``/``environment`` plus the config's ``[tags]`` (CloudFormation
propagates stack tags to every resource that takes tags); stacks outside ``local`` get
termination protection (`aggregator destroy` lifts it after asking).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from botocore.exceptions import ClientError

from pipeline.contract.naming import PROJECT
from pipeline.errors import NOT_FOUND_CODES
from scripts.changeset import (
    Change,
    ConfirmationError,
    Decision,
    DeployError,
    Review,
    StackResult,
    TemplateSource,
    apply_stack,
    ask,
    render_changes,
    stack_status,
)
from scripts.package import build_package
from scripts.session import LOCAL_ENV, EnvSession
from scripts.target import ConfiguredTarget, account_id, add_target_arguments
from templates.bootstrap import ARTIFACTS_OUTPUT, build_bootstrap_template
from templates.config import EnvironmentConfig, load_config
from templates.functions import ARTIFACTS_BUCKET_PARAMETER, CODE_KEY_PARAMETER
from templates.names import artifacts_stack_name
from templates.stack import build_template

HELP = "package the functions and deploy the stack, after showing the change set and asking"
#: CloudFormation's limit for an inline TemplateBody; larger templates go through S3
INLINE_TEMPLATE_LIMIT = 51_200
PROJECT_TAG = PROJECT


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


def upload_package(s3: Any, bucket: str, arch: str, upload: bool = True) -> str:
    """Build the package and upload it unless the bucket already holds it; returns its key."""
    package = build_package(arch)
    key = f"lambda/{package.name}"
    if not upload:
        return key
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


def first_deploy_changes(body: str) -> list[Change]:
    """What a change set of a stack that does not exist yet would list: every resource added."""
    resources: dict[str, dict[str, Any]] = json.loads(body).get("Resources", {})
    return [
        Change("Add", logical_id, str(resource.get("Type", "?")), "")
        for logical_id, resource in sorted(resources.items())
    ]


def stack_tags(config: EnvironmentConfig) -> dict[str, str]:
    """The tags every stack of ``config`` (and so every taggable resource) carries."""
    return {"project": PROJECT_TAG, "environment": config.name, **config.tags}


def termination_protected(config: EnvironmentConfig) -> bool:
    return config.name != LOCAL_ENV


@dataclass(frozen=True)
class DeployPlan:
    """The result of a deploy or a diff: where, and what each stack's review saw."""

    env: str
    account: str
    region: str
    endpoint: str | None
    stacks: tuple[StackResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "account": self.account,
            "region": self.region,
            "endpoint": self.endpoint,
            "stacks": [
                {
                    "name": stack.name,
                    "changed": stack.changed,
                    "decision": stack.decision.value if stack.decision else None,
                    "change_set_id": stack.change_set_id,
                    "changes": [change.to_dict() for change in stack.changes],
                    "outputs": stack.outputs,
                }
                for stack in self.stacks
            ],
        }


def deploy_stacks(
    config: EnvironmentConfig,
    session: EnvSession,
    review: Review | None = None,
    *,
    account: str | None = None,
    dry_run: bool = False,
) -> DeployPlan:
    """Deploy (or with ``dry_run`` only review) both stacks of ``config``.

    ``dry_run``: nothing that lasts is created: no package upload, change sets discarded, and the
    bootstrap stack's bucket is only read if it exists. A template over the inline limit is still
    put in that bucket (``templates/<hash>.json``, as a deploy would) to create its change set.
    """
    account = account or account_id(session)
    cloudformation = session.client("cloudformation")
    s3 = session.client("s3")
    tags = stack_tags(config)
    protect = termination_protected(config) and not dry_run
    bootstrap = apply_stack(
        cloudformation,
        artifacts_stack_name(config.name),
        TemplateSource(body=_compact(build_bootstrap_template(config))),
        tags=tags,
        review=review,
        termination_protection=protect,
    )
    results = [bootstrap]
    bucket = bootstrap.outputs.get(ARTIFACTS_OUTPUT)
    if bucket is None and bootstrap.decision is Decision.APPLY:
        raise DeployError(f"{bootstrap.name} has no {ARTIFACTS_OUTPUT} output")
    if bucket is None and not dry_run:
        return DeployPlan(config.name, account, session.region, session.endpoint_url, (bootstrap,))
    if bucket is None:  # diff before the first deploy: the bucket does not exist yet
        bucket = f"{config.stack_name}-artifacts-not-yet-created"
    code_key = upload_package(s3, bucket, config.functions.architecture, upload=not dry_run)
    body = _compact(build_template(config))
    if dry_run and ARTIFACTS_OUTPUT not in bootstrap.outputs and len(body) > INLINE_TEMPLATE_LIMIT:
        # no bucket to put the template in for a change set: a first deploy adds every resource
        if stack_status(cloudformation, config.stack_name) is not None:
            raise DeployError(
                f"{config.stack_name} exists but the artifacts bucket does not, and the template "
                "is over CloudFormation's inline limit: deploy the artifacts stack first"
            )
        rows = first_deploy_changes(body)
        if review is not None:
            review(config.stack_name, rows)
        first = StackResult(config.stack_name, True, {}, 0.0, tuple(rows), Decision.DISCARD)
        return DeployPlan(
            config.name, account, session.region, session.endpoint_url, (bootstrap, first)
        )
    source = template_source(session, s3, bucket, body)
    results.append(
        apply_stack(
            cloudformation,
            config.stack_name,
            source,
            {ARTIFACTS_BUCKET_PARAMETER: bucket, CODE_KEY_PARAMETER: code_key},
            tags=tags,
            review=review,
            termination_protection=protect,
        )
    )
    return DeployPlan(config.name, account, session.region, session.endpoint_url, tuple(results))


def deploy(env_name: str, endpoint_url: str | None = None) -> dict[str, str]:
    """Deploy environment ``env_name`` without asking; returns the pipeline stack's outputs.

    For tests and `aggregator demo`; operators use `aggregator deploy`, which shows and asks.
    """
    config = load_config(env_name)
    session = EnvSession.for_env(env_name, endpoint_url)
    print(f"deploying {config.stack_name} to {session.where}")
    plan = deploy_stacks(config, session)
    outputs = plan.stacks[-1].outputs
    print("outputs:")
    for key, value in sorted(outputs.items()):
        print(f"  {key} = {value}")
    return outputs


# ------------------------------------------------------------------------------------ reviews


def show_changes(name: str, changes: Sequence[Change], out: TextIO, color: bool) -> None:
    out.write(f"\n{name}: {len(changes)} change(s)\n{render_changes(changes, color)}\n")
    dangerous = [change.logical_id for change in changes if change.dangerous]
    if dangerous:
        message = f"WARNING: bucket(s) {', '.join(dangerous)} would be replaced or removed"
        out.write((f"\033[31m{message}\033[0m" if color else message) + "\n")
    out.flush()


def terminal_review(
    stdin: TextIO, out: TextIO, *, assume_yes: bool, no_execute: bool, quiet: bool = False
) -> Review:
    """Show each change set, then apply (asked, or ``assume_yes``), or keep it (``no_execute``)."""
    color = out.isatty()

    def review(name: str, changes: Sequence[Change]) -> Decision:
        if not quiet:
            show_changes(name, changes, out, color)
        if no_execute:
            return Decision.KEEP
        if assume_yes:
            return Decision.APPLY
        answered = ask(f"execute this change set on {name}? [y/N] ", stdin, out)
        return Decision.APPLY if answered else Decision.DISCARD

    return review


def discarding_review(out: TextIO, quiet: bool = False) -> Review:
    """`aggregator diff`: show, never execute."""
    color = out.isatty()

    def review(name: str, changes: Sequence[Change]) -> Decision:
        if not quiet:
            show_changes(name, changes, out, color)
        return Decision.DISCARD

    return review


# ---------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    decide = parser.add_mutually_exclusive_group()
    decide.add_argument(
        "--yes", action="store_true", help="execute without asking (CI; env local never asks)"
    )
    decide.add_argument(
        "--no-execute",
        action="store_true",
        help="create the change set and leave it for review in CloudFormation",
    )
    parser.add_argument("--json", action="store_true", help="the plan and outputs as JSON")


def _review(args: argparse.Namespace, env_name: str, stdin: TextIO, out: TextIO) -> Review:
    """How the change sets are decided; without a way to ask, refuse before anything is created."""
    # the local stack holds nothing worth a question: its change sets are shown, not confirmed
    assume_yes = args.yes or env_name == LOCAL_ENV
    if not (assume_yes or args.no_execute or stdin.isatty()):
        raise ConfirmationError(
            "no terminal to ask for confirmation, and nothing was created: review with "
            f"`aggregator diff --env {env_name}`, then pass --yes (or --no-execute to leave the "
            "change sets for review in CloudFormation)"
        )
    return terminal_review(stdin, out, assume_yes=assume_yes, no_execute=args.no_execute)


def run(args: argparse.Namespace, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    started = time.monotonic()
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    target = ConfiguredTarget.load(args)
    # where it acts, always (on stderr with --json, whose stdout is the document)
    (sys.stderr if args.json else out).write(target.where + "\n")
    review = _review(args, target.config.name, stdin, sys.stderr if args.json else out)
    # with --json, stdout carries only the document: progress lines go to stderr
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        plan = deploy_stacks(target.config, target.session, review, account=target.account)
    decisions = {stack.decision for stack in plan.stacks}
    if args.json:
        print(json.dumps(plan.to_dict()), file=out)
    elif Decision.KEEP in decisions:
        for stack in plan.stacks:
            if stack.change_set_id:
                out.write(f"{stack.name}: change set kept for review: {stack.change_set_id}\n")
    elif Decision.DISCARD in decisions:
        out.write("deploy cancelled: nothing executed\n")
    else:
        out.write("outputs:\n")
        for key, value in sorted(plan.stacks[-1].outputs.items()):
            out.write(f"  {key} = {value}\n")
        out.write(f"deploy finished in {time.monotonic() - started:.1f} s\n")
    return 1 if Decision.DISCARD in decisions else 0
