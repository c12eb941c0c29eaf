"""`aggregator acceptance`: the acceptance scenarios as one command, on the local stack or AWS.

:mod:`.preconditions` (refusals), :mod:`.scenarios` (what is uploaded), :mod:`.runner` (upload,
watch, consume), :mod:`.verdict` (the named checks), :mod:`.report` (summary, JSON, folder),
:mod:`.faults` (``--faults`` on the local stack) and the thin :mod:`.command`.
"""
