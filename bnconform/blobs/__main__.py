import sys

from bnconform.app.blobs_cli import main

sys.exit(main())
