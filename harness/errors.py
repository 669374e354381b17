"""Errors a user can act on.

A `HarnessError` carries a one-paragraph message that names the file, key or line at
fault and says what to do. The CLI prints it without a traceback and exits with
`exit_code` (2 for bad input unless a subclass says otherwise).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """A problem with the user's input or environment, explained for the user."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        sep = "\n" if "\n" in message else " "  # a multi-line message keeps its hint on a line of its own
        super().__init__(message if hint is None else f"{message}{sep}{hint}")


class ImageError(Exception):
    """One image could not be used; `reason` is a short slug such as 'corrupt' or 'missing'."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A 'did you mean ...?' suffix for `name`, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> HarnessError:
    """Error for an unknown registry name, listing what is known."""
    choices = sorted(choices)
    return HarnessError(
        f"Unknown {kind} '{name}'.{did_you_mean(name, choices)}",
        hint=f"Known {kind}s: {', '.join(choices)}.",
    )
