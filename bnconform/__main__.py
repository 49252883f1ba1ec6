import sys

from bnconform.app.cli import main

sys.exit(main())
