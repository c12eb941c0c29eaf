"""Host Lambda executor: Python functions as isolated host processes (no Docker)."""
