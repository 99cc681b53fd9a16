"""``python -m streamloop`` is the ``streamloop`` command."""

import sys

from streamloop.tools.cli import main

sys.exit(main())
