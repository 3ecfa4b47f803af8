"""`./run chaos` (`python -m tests.chaos`): the full chaos run; `--short` for the quick plan."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from tests.chaos.run import FULL, SHORT, chaos


def main() -> int:
    """Run, print the tables; exit status 1 when any check failed."""
    parser = argparse.ArgumentParser(prog="./run chaos", description=__doc__)
    parser.add_argument("--short", action="store_true", help="one quick kill of each part")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data afterwards")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wardship-chaos-"))
    command = "./run chaos" + (" --short" if args.short else "")
    try:
        result = chaos(root, SHORT if args.short else FULL, command)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(result.report)
    if args.keep:
        print(f"\nlogs and data kept in {root}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
