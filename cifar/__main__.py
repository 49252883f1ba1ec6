"""``python -m cifar``: see :mod:`cifar.cli`."""

import sys

from .cli import main

sys.exit(main())
