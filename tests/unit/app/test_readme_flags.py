"""The README documents every flag of every command, and every flag's environment variable.

``--help`` is generated from the options; the README is written by hand, so a flag added to a
command without a line in the README ("Every flag") fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from app.cli import main

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def _options() -> list[tuple[str, click.Option]]:
    assert isinstance(main, click.Group)
    return [
        (name, p)
        for name, cmd in sorted(main.commands.items())
        for p in cmd.params
        if isinstance(p, click.Option) and not p.hidden
    ]


def _flags(option: click.Option) -> list[str]:
    return [o for o in (*option.opts, *option.secondary_opts) if o.startswith("--")]


def _envvars(option: click.Option) -> list[str]:
    env = option.envvar
    return [env] if isinstance(env, str) else list(env or ())


def test_every_command_has_options_to_check() -> None:
    commands = {name for name, _ in _options()}
    assert commands >= {"plan", "run", "status", "report", "verify", "ingest", "worker"}
    assert commands >= {"replay", "cleanup"}


@pytest.mark.parametrize(
    ("command", "option"), _options(), ids=lambda v: v if isinstance(v, str) else v.name
)
def test_the_readme_names_every_flag_and_its_variable(command: str, option: click.Option) -> None:
    for flag in _flags(option):
        # backquoted, alone or with its argument: `--timeout`, `--resume JOB`
        assert re.search(rf"`{re.escape(flag)}(?: [^`]*)?`", README), (command, flag)
    for env in _envvars(option):
        assert f"`{env}`" in README, (command, env)
