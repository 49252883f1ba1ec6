"""``python -m bnconform.cifar``: see :mod:`bnconform.cifar.cli`."""

import sys

from .cli import main

sys.exit(main())
