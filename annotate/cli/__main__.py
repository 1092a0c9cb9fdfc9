"""``python -m labelloop.annotate.cli``: the same as the ``labelloop`` command."""

from labelloop.annotate.cli.main import main

main()
