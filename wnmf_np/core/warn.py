"""Warnings attributed to the user's line, not to a frame inside this package or scikit-learn."""

from __future__ import annotations

import os
import sys
import warnings

import sklearn

#: frames under these folders are skipped when choosing the line a warning points at
_PACKAGE_INIT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "__init__.py")
_INTERNAL = tuple(os.path.dirname(os.path.abspath(f)) + os.sep for f in (_PACKAGE_INIT, sklearn.__file__))


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` with the stack level of the first caller outside wnmf_np and sklearn.

    A fixed ``stacklevel`` breaks as soon as a method is reached through another layer:
    ``fit`` calling ``fit_transform``, or scikit-learn's ``set_output`` wrapper, which made
    a ``ConvergenceWarning`` point at ``sklearn/utils/_set_output.py``.
    """
    level, frame = 1, sys._getframe(0)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
