"""wnmf_np against a faithful PyTorch-autograd implementation of the same WNMF training.

    python bench/bench_torch.py [--sizes orl mfeat imagenet] [--epochs 3] [--threads 2] [--isolate] [--rounds 5]
    python bench/bench_torch.py --model deconv [--epochs 2]     # DeconvWNMF vs conv_transpose2d
    python bench/bench_torch.py --model deconv --layout phase --rounds 3 --compare-layouts  # + A/B of the layout

PyTorch (optional, benchmark-only; the library never imports it) runs the paper's recipe
as twenty lines of autograd: W (m, r) and H (r, n) as leaf tensors, leaky ReLU, L1 loss
with mean reduction, ``torch.optim.AdamW`` over both (so all of H steps every time),
mini-batches of columns. Both sides use the same initial factors, batch size, learning
rate, weight decay, batch order, threads and float32. wnmf_np runs twice: with
``h_update="dense"`` (the same optimizer semantics as torch) and with its default lazy
latent update. Seconds per epoch are medians over epochs after a warm-up epoch.

Writes ``torch_<device>.json`` into ``--out-dir`` (default ``bench/out``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

SIZES = {  # name: (n_features m, n_samples n, rank r, batch b)
    "orl": (10304, 400, 40, 32),
    "mfeat": (585, 2000, 10, 64),
    "imagenet": (2048, 50000, 1000, 256),
}
OUT = Path(__file__).resolve().parent / "out"


def make_data(name, m, n, seed=0):
    """ORL and mfeat from the bundled data; ImageNet-CNN-sized synthetic non-negative features."""
    if name == "orl":
        from wnmf_np.datasets import load_orl

        return load_orl(return_X_y=True)[0].astype(np.float32)
    if name == "mfeat":
        from wnmf_np.datasets import load_mfeat

        return load_mfeat(return_X_y=True)[0].astype(np.float32)
    rng = np.random.default_rng(seed)
    # ReLU features of a random low-rank model: sparse, non-negative, like ResNet-50 pool5
    Z = rng.standard_normal((n, 64), dtype=np.float32) @ rng.standard_normal((64, m), dtype=np.float32) / 8
    return np.maximum(Z, 0)


class TorchRecipe:
    """The paper's recipe in PyTorch autograd (paper orientation, samples as columns).

    W (m, r) and H (r, n) are leaf tensors drawn He-uniform on ±sqrt(6 / r) from a NumPy
    Generator (H drawn as (n, r), as wnmf_np draws it, then transposed), φη is
    ``LeakyReLU(eta)``, the loss ``l1_loss`` of a batch of columns, and ``torch.optim.AdamW``
    steps W and the whole H. Shared by the speed comparison here and the time-to-quality
    run of ``bench_perf.py``.
    """

    def __init__(self, X, r, lr, wd, eta, seed, device="cpu", threads=2):
        import torch

        torch.set_num_threads(threads)
        self.torch, self.device = torch, device
        n, m = X.shape
        self.rng = np.random.default_rng(seed)
        a = math.sqrt(6 / r)
        W = self.rng.uniform(-a, a, size=(m, r)).astype(np.float32)
        H = self.rng.uniform(-a, a, size=(n, r)).astype(np.float32).T.copy()
        self.W = torch.tensor(W, device=device, requires_grad=True)
        self.H = torch.tensor(H, device=device, requires_grad=True)
        self.X = torch.tensor(np.asarray(X, dtype=np.float32).T.copy(), device=device)  # (m, n)
        self.opt = torch.optim.AdamW([self.W, self.H], lr=lr, weight_decay=wd)
        self.act = torch.nn.LeakyReLU(eta)

    def epoch(self, b):
        """One epoch of shuffled batches of ``b`` columns; returns the last batch's loss (a tensor)."""
        n = self.X.shape[1]
        order = self.torch.as_tensor(self.rng.permutation(n), device=self.device)
        for k in range(math.ceil(n / b)):
            cols = order[k * b : (k + 1) * b]
            loss = self.torch.nn.functional.l1_loss(self.act(self.W) @ self.act(self.H[:, cols]), self.X[:, cols])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        return loss

    def latents(self):
        """φη(H) as (n, r) NumPy, sklearn orientation."""
        return self.act(self.H).detach().cpu().numpy().T


def torch_epochs(X, r, b, epochs, lr, wd, eta, seed, device, threads):
    """Seconds per epoch of the PyTorch-autograd recipe (median after a warm-up epoch)."""
    recipe = TorchRecipe(X, r, lr, wd, eta, seed, device, threads)
    times = []
    for _ in range(epochs + 1):
        if device == "cuda":
            recipe.torch.cuda.synchronize()
        start = time.perf_counter()
        loss = recipe.epoch(b)
        if device == "cuda":
            recipe.torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:])), float(loss.item())


def ours_epochs(X, r, b, epochs, lr, wd, eta, seed, h_update, backend):
    """Seconds per epoch of wnmf_np with the same settings (timed by the epoch callback)."""
    from wnmf_np import WNMF

    stamps = []

    def callback(epoch, info):
        stamps.append(info["elapsed"])

    model = WNMF(r, eta=eta, l2=wd, lr=lr, lr_schedule="constant", batch_size=b, max_epochs=epochs + 1,
                 n_iter_no_change=None, h_update=h_update, random_state=seed, backend=backend, callback=callback)  # fmt: skip
    model.fit(X)
    per_epoch = np.diff([0.0] + stamps)
    return float(np.median(per_epoch[1:])), model.loss_curve_[-1]


def torch_deconv_epochs(X, image_shape, r, s, b, epochs, lr, wd, eta, seed, threads, device="cpu"):
    """Deconvolutional WNMF in PyTorch: conv_transpose2d of the factor images by per-image kernels.

    The factor images F (r, h/s, w/s) are the input (batch 1, r channels) and the batch's
    kernels K (b, r, 2s, 2s) the weight (in = r, out = b), so output channel i is image i;
    padding s/2 crops back to h × w (even s).
    """
    import torch

    torch.set_num_threads(threads)
    n = X.shape[0]
    h, w = image_shape
    rng = np.random.default_rng(seed)
    a = math.sqrt(6 / (4 * r))
    F = torch.tensor(rng.uniform(-a, a, size=(r, h // s, w // s)).astype(np.float32), device=device, requires_grad=True)
    K = torch.tensor(rng.uniform(-a, a, size=(n, r, 2 * s, 2 * s)).astype(np.float32), device=device, requires_grad=True)
    Xt = torch.tensor(X.reshape(n, h, w).astype(np.float32), device=device)
    opt = torch.optim.AdamW([F, K], lr=lr, weight_decay=wd)
    act = torch.nn.LeakyReLU(eta)
    times = []
    for _ in range(epochs + 1):
        order = torch.as_tensor(rng.permutation(n))
        start = time.perf_counter()
        for k in range(math.ceil(n / b)):
            rows = order[k * b : (k + 1) * b]
            Y = torch.nn.functional.conv_transpose2d(act(F)[None], act(K[rows]).transpose(0, 1), stride=s, padding=s // 2)
            loss = torch.nn.functional.l1_loss(Y[0], Xt[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def ours_deconv_epochs(X, image_shape, r, s, b, epochs, lr, wd, eta, seed, h_update, layout="image"):
    """Seconds per epoch of DeconvWNMF with ``train_layout=layout`` ("image", the default:
    the images as they are; "phase": a copy in the kernels' phase layout)."""
    from wnmf_np import DeconvWNMF

    stamps = []
    model = DeconvWNMF(r, stride=s, image_shape=image_shape, eta=eta, l2=wd, lr=lr, latent_lr=None,
                       lr_schedule="constant", batch_size=b, max_epochs=epochs + 1, h_update=h_update,
                       train_layout=layout, random_state=seed,
                       callback=lambda e, i: stamps.append(i["elapsed"]))  # fmt: skip
    model.fit(X)
    return float(np.median(np.diff([0.0] + stamps)[1:]))


def deconv_main(args):
    from threadpoolctl import threadpool_limits

    from wnmf_np.datasets import load_orl

    bunch = load_orl()
    X, shape = bunch.data.astype(np.float32), tuple(bunch.image_shape)
    X_ours = X
    if args.device == "cuda":  # our model follows its input onto the GPU
        import cupy

        X_ours = cupy.asarray(X)
    other = {"image": "phase", "phase": "image"}[args.layout]
    rows = []
    for round_ in range(args.rounds):
        for s in (2, 4):
            hp = dict(r=40, s=s, b=32, epochs=args.epochs, lr=1e-3, wd=0.1, eta=0.1, seed=0)
            with threadpool_limits(args.threads):
                t_torch = _torch_time(torch_deconv_epochs, X, shape, threads=args.threads, device=args.device, **hp)
                t_dense = ours_deconv_epochs(X_ours, shape, h_update="dense", layout=args.layout, **hp)
                t_lazy = ours_deconv_epochs(X_ours, shape, h_update="lazy", layout=args.layout, **hp)
                t_other = None
                if args.compare_layouts:
                    t_other = ours_deconv_epochs(X_ours, shape, h_update="lazy", layout=other, **hp)
            rows.append(dict(round=round_ + 1, stride=s, layout=args.layout, torch_s=t_torch, dense_s=t_dense,
                             lazy_s=t_lazy, lazy_other_layout_s=t_other, ratio_dense=_ratio(t_dense, t_torch),
                             ratio_lazy=_ratio(t_lazy, t_torch), ratio_other_layout=_ratio(t_other, t_torch)))  # fmt: skip
            print(rows[-1], flush=True)
    print(f"\n| deconv on ORL (r = 40, b = 32) | PyTorch s/epoch | ours dense, {args.layout} | ratio "
          f"| ours lazy, {args.layout} | ratio | lazy, {other} layout | ratio |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    for w in rows:
        print(f"| s = {w['stride']}, round {w['round']} | {_cell(w['torch_s'], '.3f')} | {w['dense_s']:.3f} | "
              f"{_cell(w['ratio_dense'], '.2f')} | {w['lazy_s']:.3f} | {_cell(w['ratio_lazy'], '.2f')} | "
              f"{_cell(w['lazy_other_layout_s'], '.3f')} | {_cell(w['ratio_other_layout'], '.2f')} |")  # fmt: skip
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.out_dir) / f"torch_deconv_{args.device}.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


def _torch_time(fn, *args, **kwargs):
    """``fn(...)`` or None when PyTorch is not installed (e.g. on the GPU check machine):
    our side is still timed, the comparison columns show a dash."""
    try:
        import torch  # noqa: F401, PLC0415
    except ImportError:
        print("PyTorch is not installed: timing wnmf_np only", flush=True)
        return None
    return fn(*args, **kwargs)


def _isolated(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a fresh interpreter (``--isolate``): PyTorch's thread pools
    then never live in the process that times wnmf_np (they did slow our epochs down by up to
    30 %, and how much varied from run to run)."""
    import concurrent.futures  # noqa: PLC0415
    import multiprocessing  # noqa: PLC0415

    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def _ratio(ours, theirs):
    return None if theirs is None or ours is None else ours / theirs


def _cell(value, fmt):
    return "—" if value is None else format(value, fmt)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["orl", "mfeat", "imagenet"])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--imagenet-samples", type=int, default=50000, help="n for the synthetic size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--model", choices=("shallow", "deconv"), default="shallow")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the whole comparison (sizes interleaved); >1 prints the median ratios")  # fmt: skip
    parser.add_argument("--layout", choices=("image", "phase"), default="image",
                        help="deconv: DeconvWNMF's train_layout (default: the library's, 'image')")  # fmt: skip
    parser.add_argument("--compare-layouts", action="store_true",
                        help="deconv: also time the lazy fit in the other train_layout")  # fmt: skip
    parser.add_argument("--out-dir", default=str(OUT), help="where the JSON goes (default bench/out)")
    parser.add_argument("--isolate", action="store_true",
                        help="shallow: run PyTorch in a child process, so its threads never run beside ours")  # fmt: skip
    args = parser.parse_args(argv)
    if args.model == "deconv":
        return deconv_main(args)
    from threadpoolctl import threadpool_limits

    backend = "cupy" if args.device == "cuda" else "numpy"
    rows = []
    for round_, name in [(k + 1, name) for k in range(args.rounds) for name in args.sizes]:
        m, n, r, b = SIZES[name]
        if name == "imagenet":
            n = args.imagenet_samples
        X = make_data(name, m, n)
        if backend == "cupy":
            import cupy

            X = cupy.asarray(X)
        hp = dict(r=r, b=b, epochs=args.epochs, lr=1e-3, wd=0.1, eta=0.1, seed=0)
        with threadpool_limits(args.threads):
            run = (lambda *a, **k: _isolated(_torch_time, *a, **k)) if args.isolate else _torch_time
            t_torch, loss_torch = run(torch_epochs, X if backend == "numpy" else X.get(), device=args.device,
                                      threads=args.threads, **hp) or (None, None)  # fmt: skip
            t_dense, loss_dense = ours_epochs(X, h_update="dense", backend=backend, **hp)
            t_lazy, loss_lazy = ours_epochs(X, h_update="lazy", backend=backend, **hp)
        row = dict(size=name, round=round_, m=m, n=X.shape[0], r=r, b=b, torch_s=t_torch, dense_s=t_dense, lazy_s=t_lazy,
                   ratio_dense=_ratio(t_dense, t_torch), ratio_lazy=_ratio(t_lazy, t_torch),
                   loss_torch=loss_torch, loss_dense=loss_dense, loss_lazy=loss_lazy)  # fmt: skip
        rows.append(row)
        print(row, flush=True)
    print("\n| size (m × n, r, b) | round | PyTorch s/epoch | ours dense | ratio | ours lazy (default) | ratio |\n|---|---|---|---|---|---|---|")
    for w in rows:
        print(
            f"| {w['size']} ({w['m']} × {w['n']}, {w['r']}, {w['b']}) | {w['round']} | {_cell(w['torch_s'], '.4f')} | "
            f"{w['dense_s']:.4f} | {_cell(w['ratio_dense'], '.2f')} | {w['lazy_s']:.4f} | {_cell(w['ratio_lazy'], '.2f')} |"
        )
    if args.rounds > 1 and all(w["torch_s"] is not None for w in rows):
        for name in args.sizes:
            mine = [w for w in rows if w["size"] == name]
            med = {k: float(np.median([w[k] for w in mine])) for k in ("ratio_dense", "ratio_lazy")}
            print(f"{name}: median over {len(mine)} rounds, ratio dense {med['ratio_dense']:.2f}, lazy {med['ratio_lazy']:.2f}")
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.out_dir) / f"torch_{args.device}.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
