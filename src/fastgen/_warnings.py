"""The one warn-at-the-caller helper: a warning raised deep inside fastgen points at the user's line."""
from __future__ import annotations

import os
import sys
import warnings

from .exceptions import peer_compatible

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """Warn with `category` (scikit-learn's twin too, see ``exceptions.peer_compatible``), attributed
    to the first frame outside the fastgen package."""
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, peer_compatible(category), stacklevel=level)
