"""The pure core of the undo: per-key merge, undo plan and SQL generation.

Pure code (stdlib, sibling pure modules and PyMySQL's pure escaping helpers only): the Faust
agents and the aiomysql sink wrap these modules; nothing here does I/O.

- :mod:`app.undo.merge`: ``merge(state, change) -> KeyState`` and the compact-table byte layout
- :mod:`app.undo.plan`: ``plan_table(table, rows) -> TablePlan`` (actions by phase, counts)
- :mod:`app.undo.sqlgen`: ``statements(plan, ...) -> (sql, params)`` batches, dry-run rendering
"""
