"""tiundo's undo side: the Faust application and, a floor above it, the operator CLI.

The Faust app is ``undo/`` (the pure chain), ``stages/`` (agents), ``sink/``, ``main``,
``topics``, ``config``, ``jobrecord`` and ``report``; the CLI is ``cli/``. Importing this package
is cheap and pure: the Faust app lives in ``app.main`` and is only loaded by the worker and the
CLI commands that need it. The Faust app imports only ``core`` and ``proto``; ``app.cli`` may
import everything (``tests/unit/test_import_direction.py``).
"""
