"""The stack destroyed and deployed again: the pipeline works as before on the new stack.

`aggregator destroy` keeps the buckets and their objects (DeletionPolicy RetainExceptOnCreate);
the test checks that, then removes them as an operator would before redeploying under the same
names. Runs after the other scenarios (file order) and leaves a deployed stack behind for any
test after.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scripts.deploy import deploy
from scripts.destroy import destroy
from scripts.loadgen import MixConfig, plan_mix
from scripts.session import stack_name
from tests.e2e.pipeline import ENV_NAME, Pipeline, delete_bucket

pytestmark = pytest.mark.e2e


def test_stack_deleted_and_redeployed(pipeline: Pipeline, tmp_path: Path) -> None:
    buckets = (pipeline.landing, pipeline.archive, pipeline.distribution)
    pipeline.s3.put_object(Bucket=pipeline.archive, Key="kept/after-destroy", Body=b"dr copy")
    cloudformation = pipeline.session.client("cloudformation")
    retained = destroy(pipeline.session)
    _wait_deleted(cloudformation, stack_name(ENV_NAME), timeout=180)
    assert sorted(retained) == sorted(buckets)
    kept = pipeline.s3.get_object(Bucket=pipeline.archive, Key="kept/after-destroy")
    assert kept["Body"].read() == b"dr copy"  # the stack is gone, the data is not
    for bucket in buckets:
        delete_bucket(pipeline.s3, bucket)

    pipeline.outputs = deploy(ENV_NAME, endpoint_url=pipeline.endpoint_url)
    scenario = pipeline.scenario("redeployed", tmp_path)
    mix = plan_mix(MixConfig(count=20, seed=20, prefix=scenario.prefix, large_size=None))
    records = scenario.upload(mix)
    scenario.deliver(records)


def _wait_deleted(cloudformation: Any, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        try:
            status = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        except ClientError as error:
            if "does not exist" in str(error):
                return
            raise
        if status == "DELETE_COMPLETE":
            return
        assert status != "DELETE_FAILED", f"stack {name} could not be deleted"
        time.sleep(1)  # poll interval
    raise AssertionError(f"stack {name} still {status} after {timeout:.0f} s")
