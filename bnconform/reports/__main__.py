"""``python -m bnconform.reports report|gate ...`` (see :mod:`bnconform.reports.cli`)."""

import sys

from .cli import main

sys.exit(main())
