import sys

from demo.scenario import main

sys.exit(main())
