"""Fingerprints of small deterministic fits of every estimator, to show that a refactoring
changed no number.

Each estimator is fitted on a fixed slice of the bundled ORL faces (one BLAS and one numba
thread, so that the floating-point order is fixed) and the SHA-256 of its fitted arrays,
its transform of held-out rows and its loss curve is printed as JSON. Run it before and
after a change and compare:

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/fingerprint.py > before.json
    ... change ...
    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/fingerprint.py --compare before.json

``--compare`` exits with status 1 and names every estimator whose numbers moved.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

import wnmf_np
from wnmf_np.datasets import load_orl


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _estimators():
    common = dict(random_state=0, n_threads=1)
    return {
        "WNMF": wnmf_np.WNMF(8, max_epochs=3, batch_size=16, **common),
        "WNMF-l2-loss": wnmf_np.WNMF(8, max_epochs=3, batch_size=16, loss="l2", eta=0.0, **common),
        "DeepWNMF": wnmf_np.DeepWNMF((12, 6), max_epochs=3, batch_size=16, **common),
        "DeconvWNMF": wnmf_np.DeconvWNMF(4, stride=4, image_shape=(56, 46), max_epochs=2, batch_size=16, **common),
        "MultiplicativeNMF": wnmf_np.MultiplicativeNMF(8, max_iter=20, tol=0, **common),
        "MultiplicativeNMF-kl": wnmf_np.MultiplicativeNMF(8, max_iter=20, tol=0, beta_loss="kullback-leibler",
                                                          **common),
        "DeepMultiplicativeNMF": wnmf_np.DeepMultiplicativeNMF((12, 6), max_iter=10, pretrain_iter=10, **common),
        "UnfoldedNMF": wnmf_np.UnfoldedNMF(8, n_layers=3, max_iter=5, **common),
    }


def fingerprints() -> dict[str, dict[str, str]]:
    X, _ = load_orl(return_X_y=True)
    X = X.reshape(-1, 112, 92)[::8, ::2, ::2].reshape(50, -1).astype(np.float32)  # 50 faces of 56 x 46
    train, held_out = X[:40], X[40:]
    out = {}
    for name, est in _estimators().items():
        Z = est.fit_transform(train)
        fitted = {k: v for k, v in sorted(vars(est).items())
                  if k.endswith("_") and not k.startswith("_") and isinstance(v, np.ndarray | list)}
        record = {"fit_transform": _digest(Z), "transform": _digest(est.transform(held_out))}
        for key, value in fitted.items():
            record[key] = _digest(*(value if isinstance(value, list) else [value]))
        with tempfile.TemporaryDirectory() as tmp:  # save / load keeps every number
            path = Path(tmp) / "model.npz"
            if hasattr(est, "save"):
                est.save(path)
                record["loaded_transform"] = _digest(type(est).load(path).transform(held_out))
        out[name] = record
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", type=Path, help="JSON of an earlier run; exit 1 if anything moved")
    args = parser.parse_args(argv)
    now = fingerprints()
    if args.compare is None:
        json.dump(now, sys.stdout, indent=1)
        print()
        return 0
    before = json.loads(args.compare.read_text())
    moved = [f"{est}.{key}: {before[est].get(key)} -> {now.get(est, {}).get(key)}"
             for est in before for key in before[est] if now.get(est, {}).get(key) != before[est][key]]
    moved += [f"{est}.{key}: new" for est in now for key in now[est] if key not in before.get(est, {})]
    print("\n".join(moved) if moved else f"all {sum(map(len, now.values()))} fingerprints equal")
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
