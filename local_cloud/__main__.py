"""`python -m local_cloud ...`: see local_cloud.cli."""

import sys

from local_cloud.cli import main

sys.exit(main())
