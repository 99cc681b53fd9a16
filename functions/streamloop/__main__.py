"""``python -m streamloop`` is the ``streamloop`` command."""

import sys

from streamloop.cli import main

sys.exit(main())
