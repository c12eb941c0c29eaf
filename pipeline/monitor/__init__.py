"""The backlog monitor: how many bundles wait in Distribution, and for how long."""
