"""Troposphere templates of the pipeline stack and its per-environment configuration (deploy time only)."""
