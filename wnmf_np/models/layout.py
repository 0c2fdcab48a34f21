"""The layout protocol between a model and the training driver.

The driver trains every model the same way; what may differ is the *layout* of a batch.
Each model answers ``training_layout(X, observed, loss_name)``:

- None: train on X as it is (shallow and deep WNMF, :class:`StoredLayout`);
- a :class:`TrainingLayout`: the data re-laid for the model's step, e.g. deconvolutional
  WNMF's GEMM phase layout (:meth:`wnmf_np.models.deconv.DeconvModel.training_layout`),
  which pads each row with entries where the data and the reconstruction are both zero.

A padded layout changes the mean of the loss (its denominator must stay the number of
true entries), so the layout also decides the *loss normalisation*
(:class:`LossNormalisation`); the driver calls it and knows nothing about padding.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class LossNormalisation:
    """The batch loss and its gradient dL/dY, normalised for a layout and a reduction.

    Parameters
    ----------
    entries_per_row : int or None
        The true entries of one row in a padded layout (None: every entry of a row is
        true). The mean of an unmasked batch of b rows divides by ``b · entries_per_row``;
        under a mask the padding is unobserved and the mask's count is exact.
    """

    def __init__(self, entries_per_row: int | None = None):
        self.entries_per_row = entries_per_row

    def mean_denominator(self, n_rows: int) -> int | None:
        """The true entries of an unmasked batch of ``n_rows`` rows (None: all of Y)."""
        return None if self.entries_per_row is None else n_rows * self.entries_per_row

    def loss_grad_(self, kernels, loss, X_b, Y, obs_b, reduction: str = "mean", per_row: bool = False):
        """The batch loss; Y (b, n_layout) is overwritten with dL/dY.

        Parameters
        ----------
        kernels : KernelSet (its fused ``loss_grad_``)
        loss : LossSpec
        X_b : array (b, n_layout), the batch data; Y : array like X_b, the reconstruction
        obs_b : bool array like X_b, or None
        reduction : {"mean", "sum"}
            "sum" multiplies the mean loss and its gradient by the batch's observed true
            entries (the paper's ‖X_b − Y_b‖₁).
        per_row : bool
            With "mean": the gradient of the per-row mean loss (the batch mean times b),
            so that a row's update does not depend on the batch's composition; the value
            stays the batch mean.

        Returns
        -------
        value : device scalar or float
        """
        n_entries = self.mean_denominator(Y.shape[0])
        value = kernels.loss_grad_(loss.name, X_b, Y, obs_b, loss.param, n_entries)
        if reduction == "sum":
            # a device scalar of Y's dtype when masked: counting on the host would sync every
            # step on a GPU, and a float64 factor would make the in-place product a casting loop
            n_obs = (Y.size if n_entries is None else n_entries) if obs_b is None else obs_b.sum().astype(Y.dtype)
            Y *= n_obs
            value = value * n_obs
        elif per_row:
            Y *= Y.shape[0]
        return value


class TrainingLayout(NamedTuple):
    """The data in the layout a model trains in, and the model's step in that layout.

    ``step`` has the model's ``sample_param``, ``forward(params, H_rows, eta, kernels=None)`` and
    ``backward(G, cache, need, kernels)``, with Y and G in the layout's shape.
    """

    step: Any
    X: Any  # (n_samples, n_layout)
    observed: Any  # bool like X, or None
    entries_per_row: int  # the true entries of one sample: the loss mean's denominator per row

    @property
    def normalisation(self) -> LossNormalisation:
        """The loss normalisation of this layout (means over the true entries)."""
        return LossNormalisation(self.entries_per_row)


class StoredLayout:
    """For models that train on the data as it is: ``training_layout`` is None."""

    def training_layout(self, X, observed, loss_name: str) -> TrainingLayout | None:
        """None: the driver trains on X (n_samples, n_features) as it is."""
        return None
