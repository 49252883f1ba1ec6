"""``python -m bnconform.cifar``: see :mod:`bnconform.app.cifar_cli`."""

import sys

from bnconform.app.cifar_cli import main

sys.exit(main())
