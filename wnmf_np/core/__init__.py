"""The building blocks every family shares, independent of the model and the driver:
the leaky ReLU, the losses, AdamW, the η and learning-rate schedules, initialisations,
λ weights, the array backend (the only place CuPy is imported), thread limits, input
validation and warnings. Nothing in ``core`` imports from the other subpackages."""
