"""Write the app's environment as JSON to argv[1], then exit with code argv[2] (default 0)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> int:
    target = Path(sys.argv[1])
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(os.environ)))
    tmp.replace(target)  # the test never reads a half-written file
    return int(sys.argv[2]) if len(sys.argv) > 2 else 0


if __name__ == "__main__":
    sys.exit(main())
