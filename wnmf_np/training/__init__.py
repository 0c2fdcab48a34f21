"""Training the WNMF family: the fit context (:mod:`~wnmf_np.training.context`, what one
fit hands the driver), the mini-batch AdamW driver (:mod:`~wnmf_np.training.driver`), the
data sources it draws batches from (:mod:`~wnmf_np.training.data`, in memory or out of
core, read through :mod:`~wnmf_np.training.blocks`) and the checkpoint file format
(:mod:`~wnmf_np.training.checkpoint`)."""
