"""The errors a user can cause, and nothing else.

Every mistake a user can make (a malformed space file, a study that does not
exist, a plugin that raises) is a :class:`RefineError`. The command line
catches exactly this class, prints ``error: <message>`` on one line and exits
with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["RefineError", "SpaceError", "StudyError", "PluginError"]


class RefineError(Exception):
    """Base class of every error caused by the user's input."""


class SpaceError(RefineError):
    """A space file or a space value breaks the contract of SPEC section 1."""


class StudyError(RefineError):
    """A storage or study cannot be read, or holds nothing usable."""


class PluginError(RefineError):
    """A rule plugin failed; the message names the plugin."""
