"""What the harness tells the person at the terminal while it works: one line at a time, on stderr.

Results go to stdout (tables, CSV) so they can be piped; progress, fallbacks and failures go
here, so they never mix with them.
"""

from __future__ import annotations

import sys


def say(message: str) -> None:
    """Print `message` on stderr at once."""
    print(message, file=sys.stderr, flush=True)
