"""The reference on-premise consumer: drain Distribution into a directory, exactly once per file.

Modules: :mod:`.paths` (key -> safe on-disk path), :mod:`.writer` (atomic, durable, link-safe
writes), :mod:`.lock` (one consumer per output folder), :mod:`.ledger` (SQLite record of delivered
files and bundles), :mod:`.download` (stream a bundle to a temporary file and verify its SHA-256),
:mod:`.prefetch` (the next download overlaps the unpack), :mod:`.hostfaults` (every file-system
and ledger failure as one classified outcome), :mod:`.preflight` (can this host take files at
all), :mod:`.drain` (the loop tying them together).
"""
