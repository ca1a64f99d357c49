"""Faust agents of the undo app, one module per stage (found by the app's autodiscover).

``compact`` is the one agent: it folds ``<job>.kv`` batches into the compact table and, on a
partition's End record, runs that partition's undo (``undo``: mount, plan, apply) inside the
End event, in the partition's own actor, through the pure chain in :mod:`app.undo`.
``board`` is the Kafka-side progress board (phase barrier, reports, dead letters), ``schema``
the cache of TableInfo by physical id, ``scan`` the reads of the compact table, ``watch`` the
partitions' activity notes and the re-read of idle ones, ``supervise`` the actors' supervisor.
"""
