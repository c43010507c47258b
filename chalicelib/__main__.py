"""`python -m chalicelib` is the `bbbscale` command."""

import sys

from chalicelib.cli import main

sys.exit(main())
