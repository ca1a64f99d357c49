"""tiundo's undo side: the TiDB codec, the undo plan and the Faust application.

Importing this package is cheap and pure: the Faust app lives in ``app.main`` and is only
loaded by the worker and the CLI commands that need it.
"""
