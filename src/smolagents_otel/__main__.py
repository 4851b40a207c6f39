"""``python -m smolagents_otel``: the ``smolagents-otel`` command line (see :mod:`smolagents_otel.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
