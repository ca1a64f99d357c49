"""The ``tiundo`` command line."""

from __future__ import annotations

import click


@click.group(help="tiundo: rewind a TiDB downstream to its last TiCDC syncpoint by undo.")
@click.version_option(package_name="tiundo")
def main() -> None:
    """Entry point of the console script; subcommands register themselves below."""
