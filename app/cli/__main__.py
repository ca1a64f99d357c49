"""``python -m app.cli``: the ``tiundo`` console script without installing it (workers, tests)."""

from app.cli.main import main

main()
