"""The baselines of the paper's tables: Lee–Seung multiplicative-update NMF (shallow and
deep), its out-of-core products and row-wise transform, and deep-unfolded NMF."""
