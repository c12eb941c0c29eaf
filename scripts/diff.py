"""`aggregator diff --env ENV`: what `aggregator deploy` would change, without changing anything.

Validates the configuration, shows the account, region and endpoint, then creates a change set for
each stack, prints it as a table (a replaced or removed bucket in red) and deletes it again (with
the empty stack CloudFormation creates for a change set of a stack that does not exist yet).
Nothing is executed and the Lambda package is not uploaded; a template over CloudFormation's
51,200-byte inline limit is put in the artifacts bucket under its hash (as deploy does), because
a change set can only be created from it there; before the first deploy (no bucket yet) every
resource of the template is listed as an addition. Exit code 0 whether or not there are changes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from scripts.deploy import deploy_stacks, discarding_review
from scripts.target import ConfiguredTarget, add_target_arguments

HELP = "show the change sets a deploy would execute (nothing is created or uploaded)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="the change sets as JSON")


def run(args: argparse.Namespace) -> int:
    target = ConfiguredTarget.load(args, interactive=True)
    if not args.json:
        print(target.where)
    review = discarding_review(sys.stdout, quiet=args.json)
    # with --json, stdout carries only the document: progress lines go to stderr
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        plan = deploy_stacks(
            target.config, target.session, review, account=target.account, dry_run=True
        )
    if args.json:
        print(json.dumps(plan.to_dict()))
    return 0
