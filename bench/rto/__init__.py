"""RTO benchmark: tiundo against the ways a DBA undoes a bad window today, on one workload.

Layout (one step per module):

- :mod:`bench.rto.config`: sizes (``small``, ``full``) and the run's knobs;
- :mod:`bench.rto.schema`: the 16 benchmark tables (int PK, clustered, ``_tidb_rowid``);
- :mod:`bench.rto.history`: the seeded bulk workload, kept in memory (state at T, the changes
  in ``(T, E]`` with old/new images, torn tail) and the net undo rows per key;
- :mod:`bench.rto.store`: the history on disk, streamed forwards or backwards by contenders;
- :mod:`bench.rto.mvcc_feed`: the history into a fake cluster's MVCC store (for tiundo);
- :mod:`bench.rto.pervent`: binlog2sql-style reverse replay, one literal statement per change;
- :mod:`bench.rto.stats`: medians, ratios, the summary table;
- :mod:`bench.rto.db`: loading, resetting and checksumming MariaDB;
- :mod:`bench.rto.contenders`: what a contender gets and returns, and the registry;
- :mod:`bench.rto.baselines`: the raw-apply limit and the per-event reverse replay;
- :mod:`bench.rto.procs`: peak RSS of processes from ``/proc``;
- :mod:`bench.rto.runner`: the harness (reset → run in a child process → verify, repeated);
- :mod:`bench.rto.chart`: the PNG chart; ``python -m bench.rto`` runs it all.

Importing any module has no side effect; only :mod:`bench.rto.__main__` runs anything.
"""
