"""The pure undo chain: merge → mount → plan → SQL, and the rowid phase barrier.

Pure code (stdlib, sibling pure modules, ``core`` pure modules and PyMySQL's pure escaping
helpers only): the Faust agents and the aiomysql sink wrap these modules; nothing here does I/O.

- :mod:`app.undo.merge`: ``merge(state, change) -> KeyState`` and the compact-table byte layout
- :mod:`app.undo.mount`: a key's two images decoded with the schema at T (``mount_row``)
- :mod:`app.undo.plan`: ``plan_row``/``plan_table`` (actions by phase, counts)
- :mod:`app.undo.chain`: the mount → plan loop over a table's compacted keys (``plan_entries``)
- :mod:`app.undo.sqlgen`: ``statements(plan, ...) -> (sql, params)`` batches, dry-run rendering
- :mod:`app.undo.barrier`: the ``_tidb_rowid`` phase barrier over the progress notes
"""
