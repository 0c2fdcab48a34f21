"""How λ (``l2``) enters training: the forms of the L2 regularisation of the factors.

The paper's objective (eq. 9, samples as columns there, as rows here) is

    F₉(W, H) = ℓ(X, φη(H) φη(W)ᵀ) + λ (‖W‖² + ‖H‖²),        ℓ summed over the entries.

Mini-batch training steps on estimates of an objective. ``l2_mode`` chooses which:

``"objective"`` (the default): the per-entry objective
    F(P) = ℓ̄ + λ Σ_P c_P ‖P‖²,    c_P = fan_in(P) / size(P),
    ℓ̄ the mean loss per observed entry and fan_in(P) the number of products that sum
    into one reconstructed entry (the rank r for both shallow factors). For shallow WNMF
    with W (m, r) and H (n, r):  F = ℓ̄ + λ (‖W‖²/m + ‖H‖²/n),  λ times the mean squared
    norm of a feature's and of a sample's r-vector. Multiplied by n·m this is eq. (9)
    with the weights λn on ‖W‖² and λm on ‖H‖². φη is positively homogeneous, so the
    rescaling W → αW, H → H/α leaves the reconstruction unchanged; at α = (n/m)^(1/4)
    the two weights become one, λ√(nm): the minimisers of F are those of eq. (9) with
    λ₉ = λ√(nm), rescaled so that W and H have entries of the same size. This form of λ
    means the same on any data: the loss and the penalty are both per entry, the data's
    scale cancels for the degree-one losses (L1, KL), and at a stationary point a
    negative entry of φη(W) or φη(H) is about −η² ĝ / (2λ) times a typical positive one,
    with ĝ ∈ [0, 1] the alignment of the residual signs (docs/math.md) — n, m and r
    drop out.
``"eq9"``: F₉ / N, the paper's objective exactly (N observed entries; Adam does not see
    the factor 1/N): λ is the paper's λ, whose effect depends on the data's size.
``"penalty"``: λ(‖W‖² + ‖H_b‖²) added to every step's mean loss (kept for comparison:
    W's penalty then counts n/b times as often as the latents').
``"decoupled"``: AdamW's decoupled weight decay λ (kept for comparison).

Mini-batch weighting of the two objective forms. With weights α_P (``c_P λ`` or λ/N), a
step on the b rows B of the per-sample parameter H minimises

    f_B = ℓ̄_B + Σ_{P ≠ H} α_P ‖P‖² + α_H (n / b) ‖H_B‖²,

so that Σ over an epoch's batches of (|B| / n) f_B equals F exactly (ℓ̄_B is the batch's
mean loss): one epoch adds up to the objective once. ``transform`` (rows independent,
each row's loss the mean over its features) minimises ℓ̄_i + α_H n ‖h_i‖² per row,
i.e. n times the row's share of F.
"""

from __future__ import annotations

from typing import NamedTuple

L2_MODES = ("objective", "eq9", "penalty", "decoupled")

#: λ of ``l2="auto"`` by loss: the smallest λ of the grid 0.003, 0.01, 0.03, 0.1 that gives
#: ≤ 1 % negative mass and min/max ≥ −0.03 in every factor on the data sets of
#: docs/results/negativity.md (five for L1; ORL and multi-feature for L2). The L2, Huber and
#: KL gradients shrink with the residual (L1's sign gradient does not), so for them no single
#: λ means the same on all data (L2: 0.001 suffices on ORL, multi-feature needs 0.01); KL
#: takes the L2 value unmeasured.
AUTO_L2 = {"l1": 0.03, "l2": 0.01, "huber": 0.01, "kl": 0.01}


#: ``l2="auto"`` of DeepWNMF: on ORL with ranks (20, 40) λ = 0.015 is the smallest of
#: 0.003, 0.01, 0.015, 0.03 that keeps every factor under 1 % negative mass; 0.03 does too but
#: costs 12 NMI points (docs/results/negativity_deep_deconv.md). Non-L1 losses: half the
#: shallow value, unmeasured.
AUTO_L2_DEEP = {"l1": 0.015, "l2": 0.005, "huber": 0.005, "kl": 0.005}


def resolve_l2(l2, loss: str, auto: dict = AUTO_L2) -> float:
    """λ as a float: ``l2`` itself, or ``auto[loss]`` (default :data:`AUTO_L2`) for ``"auto"``."""
    return auto[loss] if isinstance(l2, str) and l2 == "auto" else float(l2)
OBJECTIVE_MODES = ("objective", "eq9")


class L2Weights(NamedTuple):
    """Per-step coefficients c of the terms c‖P‖² in a step's objective.

    Attributes
    ----------
    mode : str
        The ``l2_mode``.
    full : dict of str -> float
        Coefficient of every parameter updated whole in each step (W, W_l).
    sample_total : float
        For the objective modes α_H·n: a step on b rows of the per-sample parameter uses
        ``sample_total / b`` (``sample_total`` when rows are independent); for
        ``"penalty"`` the coefficient itself, whatever b.
    weight_decay : float
        AdamW's decoupled decay (``"decoupled"`` only; 0 otherwise).
    default : float
        Coefficient of a full parameter missing from ``full``.
    """

    mode: str
    full: dict
    sample_total: float
    weight_decay: float = 0.0
    default: float = 0.0

    def coefficient(self, name: str) -> float:
        """Coefficient of ‖P‖² for the full parameter ``name`` in every step."""
        return self.full.get(name, self.default)

    def sample_coefficient(self, batch_rows: int, row_independent: bool = False) -> float:
        """Coefficient of ‖H_B‖² in the step on ``batch_rows`` rows of the per-sample parameter."""
        if self.mode in OBJECTIVE_MODES and not row_independent:
            return self.sample_total / batch_rows
        return self.sample_total


def weights_of_optimizer(config) -> L2Weights:
    """The λ of an :class:`~wnmf_np.core.optim.AdamWConfig` (its ``weight_decay`` and
    ``l2_penalty``) as L2Weights, for callers of the driver that set no ``l2``."""
    if config.l2_penalty:
        return L2Weights("penalty", {}, config.l2_penalty, config.weight_decay, default=config.l2_penalty)
    return L2Weights("decoupled", {}, 0.0, config.weight_decay)


def objective_weights(model, shapes: dict, lam: float, mode: str, n_entries: int) -> dict:
    """α_P of every parameter for the objective modes (see the module docstring).

    Parameters
    ----------
    model : object with ``sample_param`` and ``fan_in(name)``
    shapes : dict of str -> tuple, every parameter's shape (rows of the per-sample one = n)
    lam : float, λ
    mode : {"objective", "eq9"}
    n_entries : int, the number N of observed entries of X (``"eq9"`` only)

    Returns
    -------
    dict of str -> float
    """
    out = {}
    for name, shape in shapes.items():
        size = 1
        for d in shape:
            size *= int(d)
        out[name] = lam * model.fan_in(name) / size if mode == "objective" else lam / max(n_entries, 1)
    return out


def make_l2_weights(mode: str, lam: float, model, shapes: dict, n_entries: int) -> L2Weights:
    """The per-step coefficients of ``mode`` for ``model`` on data with ``shapes`` (see above)."""
    sample = model.sample_param
    if mode == "decoupled":
        return L2Weights(mode, {name: 0.0 for name in shapes if name != sample}, 0.0, weight_decay=lam)
    if mode == "penalty":
        return L2Weights(mode, {name: lam for name in shapes if name != sample}, lam)
    alpha = objective_weights(model, shapes, lam, mode, n_entries)
    n_samples = int(shapes[sample][0])
    return L2Weights(mode, {k: v for k, v in alpha.items() if k != sample}, alpha[sample] * n_samples)


def objective_value(loss_mean: float, params: dict, alpha: dict) -> float:
    """F = ℓ̄ + Σ_P α_P ‖P‖² (host float), the value the objective modes minimise."""
    total = float(loss_mean)
    for name, a in alpha.items():
        P = params[name]
        total += a * float((P * P).sum())
    return total
