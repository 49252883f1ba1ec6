"""``python -m bnconform.reports report|gate ...`` (see :mod:`bnconform.app.reports_cli`)."""

import sys

from bnconform.app.reports_cli import main

sys.exit(main())
