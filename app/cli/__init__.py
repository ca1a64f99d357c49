"""The operator's command line and job orchestration: the top floor.

It drives both halves below it: the ingest (``ingest/``) and the Faust undo app (``app/``), on
the foundation (``core/``). Nothing below imports from here. One module per command
(:mod:`app.cli.plan`, :mod:`app.cli.run`, :mod:`app.cli.jobs`, :mod:`app.cli.verify`), the
shared flags and exit codes (:mod:`app.cli.common`), the checks before an undo
(:mod:`app.cli.preflight`), the job watcher (:mod:`app.cli.jobstate`) and the live display
(:mod:`app.cli.progress`). ``main`` is the ``tiundo`` console script.
"""

from app.cli.main import main

__all__ = ["main"]
