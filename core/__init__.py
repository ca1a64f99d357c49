"""The foundation every tiundo package stands on: ingest, the Faust undo app and the fake cluster.

It imports nothing of theirs (``tests/unit/test_layering.py`` enforces it):

- :mod:`core.errors`: the one exception tree, each class saying whether it is retriable;
- :mod:`core.retry`: the one retry-with-backoff policy over that flag;
- :mod:`core.settings`: the one reader of ``TIUNDO_*`` environment variables;
- :mod:`core.urls`: ``pd://``, ``kafka://``, ``mysql://``, ``http://`` addresses;
- :mod:`core.codec`: TiDB's key and row format (the key layout lives in :mod:`core.codec.keys`);
- :mod:`core.sqlident`: quoting of SQL identifiers;
- :mod:`core.status_api`: the one client of TiDB's HTTP status API;
- :mod:`core.kafka_admin`: creating and checking a job's topics;
- :mod:`core.digest`: the row digest ``tiundo verify`` compares tables by;
- :mod:`core.private`: files and folders only their owner reads (recordings, dry-run SQL).
"""
