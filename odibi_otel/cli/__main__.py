"""``python -m odibi_otel.cli``: the ``odibi-otel`` command."""

import sys

from odibi_otel.cli.main import main

sys.exit(main())
