"""Optional dependency groups (the `[project.optional-dependencies]` of pyproject.toml).

The hand detector, mediapipe 0.10.14, is the `detect` extra: it has wheels only up to Python
3.12 and pins protobuf < 5, and the demo trains on the detector-noise model without it. A
command that needs an extra imports it through `require_extra`, so a missing one is reported
with the pip command that installs it, not as a bare ImportError deep inside.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# What each extra brings, for the message (pyproject.toml declares the versions).
EXTRA_CONTENTS = {
    "detect": "mediapipe==0.10.14 with protobuf>=4.25.3,<5; wheels for Python 3.10-3.12",
}


class MissingExtraError(ImportError):
    """A command needs a package of an optional extra that is not installed."""


def require_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """Import `module`, which the pyproject extra `extra` installs; `purpose` says what needs
    it (e.g. "the hand detector"). Raises MissingExtraError naming the extra and its install
    command when the import fails."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        contents = EXTRA_CONTENTS.get(extra)
        detail = f" ({contents})" if contents else ""
        raise MissingExtraError(
            f"{purpose} needs {module}, which the '{extra}' extra installs{detail}: run "
            f'pip install -e ".[{extra}]" in the repository (make test and make demo do), '
            f"then try again. Import error: {error}"
        ) from error
