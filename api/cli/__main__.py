"""`python -m api.cli`: how `wardship dev` starts its children (it marks their command line)."""

from __future__ import annotations

import sys

from api.cli import main

sys.exit(main())
