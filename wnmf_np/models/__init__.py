"""The WNMF-family models: forward and hand-written backward of the shallow (eq. 9),
deep (eq. 11) and deconvolutional (eq. 12) factorisations, each with its parameters and
its training layout (the protocol in :mod:`wnmf_np.models.layout`). Models compute; they
neither validate input nor loop over epochs."""
