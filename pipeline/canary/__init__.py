"""The production canary (issue 22): a small scheduled put under ``_canary/`` in Landing that flows
through the real path, so "no canary reached Distribution" tells a broken pipeline from an idle one.

:mod:`~pipeline.canary.payload` is the canary file (its key and JSON body, pure);
:mod:`~pipeline.canary.config` its cold-start settings; :mod:`~pipeline.canary.handler` the thin
scheduled handler.
"""
