"""Parameter constraints shared by the estimators, in scikit-learn's declarative form.

Every estimator declares ``_parameter_constraints`` (``sklearn.utils._param_validation``,
as ``sklearn.decomposition.NMF`` does) built from ONE table per family, which each
estimator extends with its own parameters; ``BaseEstimator._validate_params`` checks them
once at the start of ``fit`` / ``partial_fit`` / ``transform``. A violated constraint
raises scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and a ``TypeError``)
naming the parameter, what it must be and the value given. Checks across parameters, or
against the data, stay imperative in the estimators.

Two things the table forms of scikit-learn do not say, and the library always required:
a bool is never an integer or a real number here (``n_components=True`` is an error), and
a real parameter must be finite (:class:`Int`, :class:`Real`). :class:`Satisfies` covers
values no interval or option set describes (``ranks``, ``betas``, ``dtype``,
``random_state``: scikit-learn's ``"random_state"`` takes no ``Generator``, and bools).
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions, validate_parameter_constraints

from .backend import BACKENDS
from .validation import DTYPES


class Int(Interval):
    """An integer in [left, right], ``None`` an open end; bools are not integers here."""

    def __init__(self, left=None, right=None):
        closed = {(True, True): "both", (True, False): "left", (False, True): "right"}.get(
            (left is not None, right is not None), "neither")  # fmt: skip
        super().__init__(numbers.Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, bool) and super().is_satisfied_by(val)


class Real(Interval):
    """A finite real number in the interval; bools are not numbers here."""

    def __init__(self, left=None, right=None, *, closed="both"):
        super().__init__(numbers.Real, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, bool) and isinstance(val, numbers.Real) and math.isfinite(val) and val in self

    def __str__(self):
        return "a finite " + super().__str__().removeprefix("a ")


class Satisfies(Options):
    """A constraint given by a predicate and the words the error message uses for it."""

    def __init__(self, predicate, description: str):
        super().__init__(object, set())
        self.predicate, self.description = predicate, description

    def is_satisfied_by(self, val):
        return bool(self.predicate(val))

    def __str__(self):
        return self.description


class options(StrOptions):  # noqa: N801  (reads as a constraint in the tables)
    """``StrOptions`` over a tuple of names (defined once where the names live), listed in
    the tuple's order in the error message."""

    def __init__(self, names):
        super().__init__(set(names))
        self.names = tuple(names)

    def __str__(self):
        return f"one of {self.names}"


def _is_int(value, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= low


def is_dtype(value) -> bool:
    """A working precision :func:`wnmf_np.core.validation.check_dtype` accepts."""
    try:
        return (value if isinstance(value, str) else np.dtype(value).name) in DTYPES
    except (TypeError, ValueError):
        return False


def rank_tuple(value) -> bool:
    """``(r_1, …, r_L)``: a non-empty tuple or list of positive integers."""
    return isinstance(value, (tuple, list)) and len(value) > 0 and all(_is_int(r, 1) for r in value)


def rank_sequence(value) -> bool:
    """A non-empty sequence (not a string) of positive integers."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) < 1:
        return False
    return all(_is_int(r, 1) for r in value)


def is_random_state(value) -> bool:
    """None, a seed >= 0, a NumPy ``Generator`` or ``RandomState`` (a bool is not a seed)."""
    return value is None or _is_int(value, 0) or isinstance(value, (np.random.Generator, np.random.RandomState))


POSITIVE_INT = Int(1)
NON_NEGATIVE_INT = Int(0)
NON_NEGATIVE = Real(0.0, None, closed="left")
POSITIVE = Real(0.0, None, closed="neither")
UNIT_LEFT_CLOSED = Real(0.0, 1.0, closed="left")
DTYPE = [None, Satisfies(is_dtype, "'float32' or 'float64' (or the NumPy type)")]
RANDOM_STATE = [Satisfies(is_random_state, "None, an int >= 0, a numpy Generator or a numpy RandomState")]


def adam_betas(value) -> bool:
    """``(β₁, β₂)``, both finite reals in [0, 1)."""
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(UNIT_LEFT_CLOSED.is_satisfied_by(b) for b in value)


#: what every estimator of both families takes
COMMON_CONSTRAINTS = {
    "backend": [options(BACKENDS)],
    "dtype": DTYPE,
    "random_state": RANDOM_STATE,
    "verbose": [NON_NEGATIVE_INT],
    "n_threads": [POSITIVE_INT, None],
}


# ------------------------------------------------------------------ shared docstrings
#: the line of a class docstring that :func:`document_parameters` replaces
SHARED_PARAMETERS = "<shared parameters>"


def _shown(value) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def document_parameters(fragments: dict, names, *, notes=None, **fill):
    """Class decorator: write the numpydoc entries of the shared parameters ``names`` into
    the class docstring, in place of its line ``<shared parameters>``.

    ``fragments`` maps a parameter to its entry, written once for the family; ``{default}``
    in it becomes the default of the class's ``__init__``, ``{key}`` the value ``fill``
    gives for ``key``. ``notes`` maps a parameter to a paragraph the class adds to its entry.
    """
    notes = notes or {}

    def decorate(cls):
        defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}
        lines = cls.__doc__.splitlines()
        (at,) = [i for i, line in enumerate(lines) if line.strip() == SHARED_PARAMETERS]
        indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
        entries = []
        for name in names:
            text = inspect.cleandoc(fragments[name]).replace("{default}", _shown(defaults[name]))
            for key, value in fill.items():  # str.replace: the entries' types hold braces
                text = text.replace("{" + key + "}", str(value))
            if name in notes:
                text += "\n\n" + inspect.cleandoc(notes[name])
            head, *body = text.splitlines()
            entries.append(indent + head)
            entries += [(indent + "    " + line).rstrip() for line in body]
        cls.__doc__ = "\n".join(lines[:at] + entries + lines[at + 1 :])
        return cls

    return decorate


def check_parameter(estimator, name: str):
    """Validate one parameter of ``estimator`` against its ``_parameter_constraints`` (for the
    methods that need it outside ``fit`` / ``transform``); returns its value."""
    value = getattr(estimator, name)
    validate_parameter_constraints({name: estimator._parameter_constraints[name]}, {name: value},
                                   caller_name=type(estimator).__name__)  # fmt: skip
    return value
