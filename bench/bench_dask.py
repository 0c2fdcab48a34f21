"""WNMF and MultiplicativeNMF on Dask: throughput in memory, from a memmap, and on Dask.

Usage (time only through the lead's timing window on the shared machine):

    /work/tools/timing_window.sh python bench/bench_dask.py stream
    /work/tools/timing_window.sh python bench/bench_dask.py mu --n 50000
    /work/tools/timing_window.sh python bench/bench_dask.py quality
    /work/tools/timing_window.sh python bench/bench_dask.py parallel-speed --syncs epoch 8
    python bench/bench_dask.py parallel --configs sum:epoch:trained sum:1:trained

``stream``: ``WNMF(16, max_epochs=5)`` on X = n × 512 float32 (default n = 20000, chunks
of 5000 rows) in memory, from a memmap, from a Dask array with the threaded scheduler,
and on a ``LocalCluster`` with 1 and 2 workers (1 thread each; X persisted on the
workers); samples per second per epoch, median of ``--repeats`` fits, interleaved.
``mu``: seconds per iteration of ``MultiplicativeNMF(16)`` in memory and on the same
Dask arrays. ``quality``: reconstruction error and ORL NMI of the chunk-group order
against the full shuffle (in memory), a few seeds. ``parallel``: ORL error and NMI of
data-parallel WNMF on a 2-worker ``LocalCluster`` (``fit_data_parallel``, each of
``--configs`` "combine:sync_every:final_latents[:split]", split: ``split_batch=True``) against the single-process fit, same
seeds (not a timing). ``parallel-speed``: samples per second of ``fit_data_parallel`` on
1 and 2 process workers (each ``--syncs`` interval, ``:split`` for ``split_batch=True``)
against the in-memory fit, the data of ``stream``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def _dask_data(n, m, rank, chunk):
    import dask.array as da

    rs = da.random.RandomState(0)
    W = rs.uniform(size=(n, rank), chunks=(chunk, rank))
    H = np.random.default_rng(1).uniform(size=(rank, m))
    return (W @ H / rank).astype(np.float32)


def _rate(fit, n):
    """``(whole fit, per epoch)`` samples per second of one fit: n × epochs over the fit's
    time (validation and the final error pass included), and n over the median epoch
    (from the epoch callback's elapsed times). ``fit(callback)`` returns the model."""
    marks = []
    t0 = time.perf_counter()
    model = fit(lambda epoch, info: marks.append(info["elapsed"]))
    seconds = time.perf_counter() - t0
    epochs = np.diff([0.0, *marks])
    return n * len(model.loss_curve_) / seconds, n / float(np.median(epochs))


def bench_stream(n, m, chunk, repeats, epochs=5, rank=16):
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    from wnmf_np import WNMF

    lazy = _dask_data(n, m, rank, chunk)
    X = lazy.compute()
    tmp = Path(tempfile.mkdtemp())
    np.save(tmp / "X.npy", X)
    mm = np.load(tmp / "X.npy", mmap_mode="r")
    dX_local = da.from_array(mm, chunks=(chunk, m))

    def fit(data):
        return lambda callback: WNMF(rank, max_epochs=epochs, random_state=0, callback=callback).fit(data)

    fit(X[:2000])(None)  # compile outside the timings
    rates = {k: [] for k in ("in memory", "memmap", "dask threaded", "LocalCluster 1 worker", "LocalCluster 2 workers")}
    clusters = {}
    for w in (1, 2):
        cluster = LocalCluster(n_workers=w, threads_per_worker=1, dashboard_address=None, silence_logs=40)
        clusters[w] = (cluster, Client(cluster, set_as_default=False))
    persisted = {w: client.persist(lazy) for w, (_, client) in clusters.items()}
    for w, (_, client) in clusters.items():
        client.wait_for_workers(w)
        with client.as_current():
            wait(persisted[w])
    for _ in range(repeats):
        rates["in memory"].append(_rate(fit(X), n))
        rates["memmap"].append(_rate(fit(mm), n))
        with dask.config.set(scheduler="threads"):
            rates["dask threaded"].append(_rate(fit(dX_local), n))
        for w, (_, client) in clusters.items():
            with client.as_current():
                rates[f"LocalCluster {w} worker{'s' if w > 1 else ''}"].append(_rate(fit(persisted[w]), n))
    for _, (cluster, client) in clusters.items():
        client.close()
        cluster.close()
    base = [statistics.median(r[k] for r in rates["in memory"]) for k in (0, 1)]
    print(f"WNMF({rank}, max_epochs={epochs}) on {n} x {m} float32, chunks of {chunk} rows, median of {repeats}")
    print(f"  {'':<24s} {'whole fit (samples/s)':>30s} {'median epoch (samples/s)':>33s}")
    for name, values in rates.items():
        med = [statistics.median(r[k] for r in values) for k in (0, 1)]
        print(f"  {name:<24s} {med[0]:14.0f} {med[0] / base[0]:6.2f}x in memory {med[1]:14.0f} {med[1] / base[1]:6.2f}x in memory")


def bench_mu(n, m, chunk, repeats, iters=20, rank=16):
    import dask
    from distributed import Client, LocalCluster, wait

    from wnmf_np import MultiplicativeNMF

    lazy = _dask_data(n, m, rank, chunk)
    X = lazy.compute()

    def per_iter(data):
        t0 = time.perf_counter()
        model = MultiplicativeNMF(rank, max_iter=iters, tol=0, random_state=0, dtype="float32").fit(data)
        return (time.perf_counter() - t0) / model.n_iter_

    times = {"in memory": [], "dask threaded": [], "LocalCluster 2 workers": []}
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=40)
    client = Client(cluster, set_as_default=False)
    on_cluster = client.persist(lazy)
    with client.as_current():
        wait(on_cluster)
    local = lazy.persist(scheduler="threads")
    for _ in range(repeats):
        times["in memory"].append(per_iter(X))
        with dask.config.set(scheduler="threads"):
            times["dask threaded"].append(per_iter(local))
        with client.as_current():
            times["LocalCluster 2 workers"].append(per_iter(on_cluster))
    client.close()
    cluster.close()
    base = statistics.median(times["in memory"])
    print(f"MultiplicativeNMF({rank}, max_iter={iters}) on {n} x {m} float32, chunks of {chunk} rows, median of {repeats}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:<24s} {1e3 * med:8.1f} ms per iteration   {med / base:5.2f}x in memory")


def bench_quality(seeds, epochs=60):
    """The chunk-group order against the full shuffle (in memory), same seeds."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    from wnmf_np import WNMF, datasets
    from wnmf_np.training.blocks import stream

    X, y = datasets.load_orl(return_X_y=True)
    X = np.asarray(X, dtype=np.float32)
    X = X / X.max()
    tmp = Path(tempfile.mkdtemp())
    np.save(tmp / "orl.npy", X)
    mm = np.load(tmp / "orl.npy", mmap_mode="r")
    row_bytes = X.shape[1] * 4
    budget = 2 * 80 * row_bytes  # groups of 80 samples (5 groups for ORL's 400): 10 chunks of 40 samples

    def scores(data, seed):
        model = WNMF(40, max_epochs=epochs, random_state=seed, n_iter_no_change=None).fit(data)
        labels = KMeans(40, n_init=10, random_state=0).fit_predict(model.latents_)
        return model.reconstruction_err_, normalized_mutual_info_score(y, labels)

    print(f"ORL 400 x {X.shape[1]}, WNMF(40, max_epochs={epochs}); chunk groups of 80 samples vs full shuffle")
    for seed in seeds:
        e_full, nmi_full = scores(X, seed)
        e_grp, nmi_grp = scores(stream(mm, chunk_budget=budget), seed)
        print(f"  seed {seed}: error full {e_full:.4f} groups {e_grp:.4f} ({100 * (e_grp / e_full - 1):+.2f} %)   "
              f"NMI full {nmi_full:.4f} groups {nmi_grp:.4f}")  # fmt: skip


def bench_parallel_speed(n, m, chunk, repeats, syncs=("epoch",), epochs=5, rank=16):
    """Samples per second of data-parallel WNMF on 1 and 2 process workers (W combined
    every ``syncs`` interval) against the in-memory fit, interleaved, median of ``repeats``."""
    from distributed import Client, LocalCluster, futures_of, wait

    from wnmf_np import WNMF
    from wnmf_np.training.data_parallel import fit_data_parallel

    lazy = _dask_data(n, m, rank, chunk)
    X = lazy.compute()

    def model(callback):
        return WNMF(rank, max_epochs=epochs, random_state=0, callback=callback)

    def in_memory(callback):
        return model(callback).fit(X)

    def parallel(client, Xd, sync):  # sync: "epoch" or a number of steps, ":split" for split_batch=True
        every, *split = sync.split(":")
        every = every if every == "epoch" else int(every)
        return lambda callback: fit_data_parallel(model(callback), Xd, client, sync_every=every,
                                                  split_batch=split == ["split"]).estimator  # fmt: skip

    in_memory(None)  # compile outside the timings
    clusters, persisted = {}, {}
    for w in (1, 2):
        cluster = LocalCluster(n_workers=w, threads_per_worker=1, dashboard_address=None, silence_logs=40)
        client = Client(cluster, set_as_default=False)
        client.wait_for_workers(w)
        clusters[w] = (cluster, client)
        persisted[w] = client.persist(lazy)
        with client.as_current():
            wait(futures_of(persisted[w]))
        parallel(client, persisted[w], "epoch")(None)  # compile on the workers

    def name(w, sync):
        return f"{w} worker{'s' if w > 1 else ''}, sync {sync}"

    rates = {"in memory": [], **{name(w, s): [] for w in clusters for s in syncs}}
    for _ in range(repeats):
        rates["in memory"].append(_rate(in_memory, n))
        for w, (_, client) in clusters.items():
            for s in syncs:
                rates[name(w, s)].append(_rate(parallel(client, persisted[w], s), n))
    for cluster, client in clusters.values():
        client.close()
        cluster.close()
    base = [statistics.median(r[k] for r in rates["in memory"]) for k in (0, 1)]
    print(f"WNMF({rank}, max_epochs={epochs}) on {n} x {m} float32, chunks of {chunk} rows, median of {repeats}; "
          "fit_data_parallel on LocalCluster(threads_per_worker=1), sync_every as given")
    print(f"  {'':<26s} {'whole fit (samples/s)':>30s} {'median epoch (samples/s)':>33s}")
    for key, values in rates.items():
        med = [statistics.median(r[k] for r in values) for k in (0, 1)]
        print(f"  {key:<26s} {med[0]:14.0f} {med[0] / base[0]:6.2f}x in memory {med[1]:14.0f} {med[1] / base[1]:6.2f}x in memory")


def bench_parallel(seeds, configs, epochs=60, chunk=50, reference_transform=False):
    """Data-parallel WNMF on a 2-worker LocalCluster against the single-process fit, same
    seeds; ``configs``: "combine:sync_every:final_latents" strings (sync_every "epoch" or
    a number of steps). Prints error, NMI and wall time of each (not a timing: the
    machine is shared)."""
    import dask.array as da
    from distributed import Client, LocalCluster, futures_of, wait

    from wnmf_np import WNMF, datasets
    from wnmf_np.metrics import clustering_nmi
    from wnmf_np.training.data_parallel import fit_data_parallel

    X, y = datasets.load_orl(return_X_y=True)
    X = np.asarray(X, dtype=np.float32)
    X = X / X.max()

    def model(seed):
        return WNMF(40, max_epochs=epochs, random_state=seed, n_iter_no_change=None)

    def nmi(latents):
        return clustering_nmi(np.asarray(latents), y, 40, n_runs=3).mean

    def parse(config):  # combine:sync_every:final_latents, and ":split" for split_batch=True
        combine, sync, final, *split = config.split(":")
        return combine, sync if sync == "epoch" else int(sync), final, split == ["split"]

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, Client(cluster) as client:
        Xd = client.persist(da.from_array(X, chunks=(chunk, X.shape[1])))
        wait(Xd)
        who = client.who_has(futures_of(Xd))
        rows = {}
        for key, workers in who.items():
            rows[workers[0]] = rows.get(workers[0], 0) + chunk
        print(f"ORL 400 x {X.shape[1]}, WNMF(40, max_epochs={epochs}); 2 workers, chunks of {chunk} rows, "
              f"rows per worker {sorted(rows.values())}; single process vs data parallel (NMI: mean of 3 k-means runs)")
        fit_data_parallel(model(0).set_params(max_epochs=1), Xd, client)  # compile on the workers
        for seed in seeds:
            t0 = time.perf_counter()
            ref = model(seed).fit(X)
            line = (f"  seed {seed}: single error {ref.reconstruction_err_:.4f} NMI {nmi(ref.latents_):.4f} "
                    f"({time.perf_counter() - t0:.1f} s)")
            if reference_transform:
                Z = ref.transform(X)
                line += f" | single+transform: error {np.linalg.norm(X - ref.inverse_transform(Z)):.4f} NMI {nmi(Z):.4f}"
            print(line, flush=True)
            for config in configs:
                combine, sync, final, split = parse(config)
                t0 = time.perf_counter()
                est = fit_data_parallel(model(seed), Xd, client, combine=combine, sync_every=sync,
                                        final_latents=final, split_batch=split).estimator  # fmt: skip
                seconds = time.perf_counter() - t0
                print(f"    {config:<22s} error {est.reconstruction_err_:.4f} "
                      f"({100 * (est.reconstruction_err_ / ref.reconstruction_err_ - 1):+.2f} %) NMI {nmi(est.latents_):.4f} "
                      f"({seconds:.1f} s)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["stream", "mu", "quality", "parallel", "parallel-speed"])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--m", type=int, default=512)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", default=["sum:epoch:trained", "sum:epoch:transform"],
                        help="parallel: combine:sync_every:final_latents[:split] of each data-parallel fit")
    parser.add_argument("--syncs", nargs="+", default=["epoch"],
                        help="parallel-speed: sync_every values to time ('epoch' or a number of steps, ':split' for split_batch)")
    parser.add_argument("--reference-transform", action="store_true",
                        help="parallel: also the single-process fit's latents re-solved by transform")
    args = parser.parse_args()
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if args.part == "stream":
        bench_stream(args.n, args.m, args.chunk, args.repeats)
    elif args.part == "mu":
        bench_mu(args.n, args.m, args.chunk, args.repeats)
    elif args.part == "parallel-speed":
        bench_parallel_speed(args.n, args.m, args.chunk, args.repeats, args.syncs)
    elif args.part == "parallel":
        bench_parallel(args.seeds, args.configs, reference_transform=args.reference_transform)
    else:
        bench_quality(args.seeds)


if __name__ == "__main__":
    main()
