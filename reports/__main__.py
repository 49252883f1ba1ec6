"""``python -m reports report|gate|screenshot ...`` (see :mod:`reports.cli`)."""

import sys

from .cli import main

sys.exit(main())
