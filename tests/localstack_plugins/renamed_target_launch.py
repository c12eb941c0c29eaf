"""The launcher, after renaming one patch target as an upstream release might (test helper).

``python -m tests.localstack_plugins.renamed_target_launch`` with ``AGGREGATOR_TEST_RENAME`` set to
``module:Class.attribute``: that attribute is moved to ``attribute_renamed``, then
:func:`localstack_plugins.launch.main` runs as ``aggregator local up`` runs it.
"""

from __future__ import annotations

import importlib
import os

from localstack_plugins import launch

RENAME_VARIABLE = "AGGREGATOR_TEST_RENAME"


def main() -> None:
    module, attribute = os.environ[RENAME_VARIABLE].split(":")
    owner: object = importlib.import_module(module)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    setattr(owner, f"{name}_renamed", getattr(owner, name))
    delattr(owner, name)
    launch.main()


if __name__ == "__main__":
    main()
