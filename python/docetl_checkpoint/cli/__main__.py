"""`python -m docetl_checkpoint.cli`."""

import sys

from docetl_checkpoint.cli import main

sys.exit(main())
