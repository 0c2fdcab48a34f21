"""The scikit-learn estimators of the WNMF family (``WNMF``, ``DeepWNMF``, ``DeconvWNMF``):
parameters, validation at the public boundary, ``partial_fit``, save / load. They build a
model and hand it to :mod:`wnmf_np.training`."""
