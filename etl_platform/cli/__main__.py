"""`python -m etl_platform.cli`."""

import sys

from etl_platform.cli import main

sys.exit(main())
