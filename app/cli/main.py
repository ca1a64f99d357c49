"""The ``tiundo`` command line: one group, one module per command (``app/cli/*.py``).

``plan`` finds T and E and counts what would be undone, ``run`` ingests and undoes with live
progress, ``status``/``report`` read a job's status topic, ``verify`` compares the tables with
their state at T, ``replay`` pushes a recording into Kafka, and ``ingest``/``worker`` run one
stage each so a deployment needs only this console script; ``cleanup`` removes what a job
left. Flags, env vars and exit codes: :mod:`app.cli.common`.
"""

from __future__ import annotations

from typing import Any

import click

from app.cli.common import fail_for


class _Group(click.Group):
    """A group whose commands end in one line and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except (KeyboardInterrupt, Exception) as exc:
            fail_for(exc)


@click.group(cls=_Group, help="tiundo: rewind a TiDB downstream to its last syncpoint by undo.")
@click.version_option(package_name="tiundo")
def main() -> None:
    """Entry point of the console script; subcommands register themselves below."""


def _register() -> None:
    from app.cli.cleanup import cleanup
    from app.cli.jobs import ingest, replay, report, status, worker
    from app.cli.plan import plan
    from app.cli.run import run
    from app.cli.verify import verify

    for command in (plan, run, status, report, verify, replay, ingest, worker, cleanup):
        main.add_command(command)


_register()
