"""Schedules for η (per epoch) and for the learning rate (per step).

η schedules map an epoch index e = 0 .. E-1 to η ∈ [0, 1]:

- ``"constant"``: η_e = η.
- ``"linear"``:   the curriculum η_e = 1 + (η - 1) e / (E - 1), from 1 (plain MF) to η.
- ``"cosine"``:   η_e = η + (1 - η) (1 + cos(π e / (E - 1))) / 2, from 1 to η.
- a callable ``epoch -> η``.

The paper's curriculum "η: 1 → 0" is ``eta=0, eta_schedule="linear"`` (or ``"cosine"``).

Learning-rate schedules map a step s = 0 .. S-1 to a factor of the base rate:
``"constant"`` (1) and ``"cosine"`` ((1 + cos(π s / S)) / 2, annealed to 0 at the end).
"""

from __future__ import annotations

import math
from collections.abc import Callable

ETA_SCHEDULES = ("constant", "linear", "cosine")
LR_SCHEDULES = ("constant", "cosine")


def make_eta_schedule(schedule, eta: float, max_epochs: int) -> Callable[[int], float]:
    """Return ``epoch -> η`` for a named schedule or a user callable (validated on use)."""
    if callable(schedule):
        return _checked(schedule)
    span = max(max_epochs - 1, 1)
    if schedule == "constant":
        return lambda epoch: eta
    if schedule == "linear":
        return lambda epoch: 1.0 + (eta - 1.0) * min(epoch / span, 1.0)
    if schedule == "cosine":
        return lambda epoch: eta + (1.0 - eta) * 0.5 * (1.0 + math.cos(math.pi * min(epoch / span, 1.0)))
    raise ValueError(f"eta_schedule must be one of {ETA_SCHEDULES} or a callable epoch -> eta, got {schedule!r}.")


def _checked(fn: Callable[[int], float]) -> Callable[[int], float]:
    def schedule(epoch: int) -> float:
        value = fn(epoch)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"eta_schedule({epoch}) must return a number, got {value!r}.") from None
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"eta_schedule({epoch}) returned {value}; eta must lie in [0, 1].")
        return value

    return schedule


def make_lr_schedule(schedule: str, total_steps: int) -> Callable[[int], float]:
    """Return ``step -> factor`` multiplying the base learning rate."""
    if schedule == "constant":
        return lambda step: 1.0
    if schedule == "cosine":
        total = max(total_steps, 1)
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step / total, 1.0)))
    raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}.")
