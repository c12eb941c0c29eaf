"""Operator entry points: the `aggregator` command and its subcommands (deploy-time code only)."""
