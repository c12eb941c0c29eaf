"""Faithful Firehose: buffering, Lambda processor contract, limits, GZIP and key naming."""
