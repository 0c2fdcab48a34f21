"""Checkpoints (save/load/resume, atomic writes, hostile files) and streaming partial_fit."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
from helpers import low_rank_nonneg

from wnmf_np import WNMF, CheckpointError

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and file locks")
KW = dict(max_epochs=6, batch_size=16, random_state=3, n_iter_no_change=None, dtype="float64")


@pytest.fixture
def data(rng):
    return low_rank_nonneg(rng, n_samples=80, n_features=15, rank=3)[0]


def _interrupt_at(epoch_to_stop):
    def callback(epoch, info):
        if epoch == epoch_to_stop:
            raise KeyboardInterrupt

    return callback


def test_interrupted_fit_resumes_to_the_uninterrupted_result(data):
    reference = WNMF(3, **KW).fit(data)
    model = WNMF(3, callback=_interrupt_at(3), **KW)
    with pytest.raises(KeyboardInterrupt):
        model.fit(data)
    assert model.n_iter_ == 3  # the work done is kept on the estimator
    model.set_params(callback=None)
    model.fit(data, resume=True)
    assert model.n_iter_ == 6
    np.testing.assert_array_equal(model.params_["W"], reference.params_["W"])
    np.testing.assert_array_equal(model.params_["H"], reference.params_["H"])
    assert model.loss_curve_ == reference.loss_curve_


def test_periodic_checkpoint_then_resume_from_file(tmp_path, data):
    reference = WNMF(3, **KW).fit(data)
    path = tmp_path / "ckpt.npz"
    model = WNMF(3, checkpoint_path=str(path), checkpoint_every=2, callback=_interrupt_at(5), **KW)
    with pytest.raises(KeyboardInterrupt):
        model.fit(data)
    restored = WNMF.load(path)  # written at epoch 4, before the crash at epoch 5
    assert restored.n_iter_ == 4
    restored.set_params(checkpoint_path=None, checkpoint_every=None)
    restored.fit(data, resume=True)
    np.testing.assert_array_equal(restored.params_["W"], reference.params_["W"])
    np.testing.assert_array_equal(restored.params_["H"], reference.params_["H"])


def test_resume_rejects_other_data_and_unfitted(data):
    with pytest.raises(ValueError, match="resume"):
        WNMF(3, **KW).fit(data, resume=True)
    model = WNMF(3, **KW).fit(data)
    with pytest.raises(ValueError, match="same data"):
        model.fit(data[:40], resume=True)


def test_checkpoint_every_needs_a_path(data):
    with pytest.raises(ValueError, match="checkpoint_path"):
        WNMF(3, checkpoint_every=2, **KW).fit(data)


def test_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, data, monkeypatch):
    model = WNMF(3, **KW).fit(data)
    path = model.save(tmp_path / "m.npz")
    before = path.read_bytes()

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind


def test_truncated_file_fails_clearly(tmp_path, data):
    path = WNMF(3, **KW).fit(data).save(tmp_path / "m.npz")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        WNMF.load(path)


def test_tampered_array_fails_checksum(tmp_path, data):
    path = WNMF(3, **KW).fit(data).save(tmp_path / "m.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["param/W"] = arrays["param/W"] + 1.0
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="checksum"):
        WNMF.load(path)


def test_pickled_payload_is_never_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('executed!')",))

    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array([Boom()], dtype=object))
    with pytest.raises(CheckpointError):
        WNMF.load(path)


def test_foreign_and_wrong_class_files(tmp_path, data):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, X=np.ones(3))
    with pytest.raises(CheckpointError, match="not a wnmf_np checkpoint"):
        WNMF.load(foreign)
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        WNMF.load(tmp_path / "missing.npz")
    path = WNMF(3, **KW).fit(data).save(tmp_path / "m.npz")
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
    meta["class"] = "SomethingElse"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="SomethingElse"):
        WNMF.load(path)


def test_partial_fit_streams_batches_and_keeps_optimizer_state(data):
    model = WNMF(3, lr=2e-2, **{**KW, "max_epochs": 1})
    batches = np.array_split(data, 4)
    model.partial_fit(batches[0])
    assert model.latents_.shape == (20, 3)
    step_after_first = model.train_state_.opt["W"].step
    W_before = model.params_["W"].copy()
    for b in batches[1:]:
        model.partial_fit(b)
    assert model.latents_.shape == (80, 3)
    assert model.train_state_.opt["W"].step > step_after_first  # AdamW state carried over
    assert not np.array_equal(model.params_["W"], W_before)
    assert model.train_state_.opt["H"].m.shape == (80, 3)
    # several passes over the stream keep improving the fit of new data
    errors = []
    for _ in range(30):
        for b in batches:
            model.partial_fit(b)
        Z = model.transform(data)
        errors.append(np.linalg.norm(data - model.inverse_transform(Z)))
    assert errors[-1] < errors[0]


def test_partial_fit_checks_features(data):
    model = WNMF(3, **KW).partial_fit(data[:10])
    with pytest.raises(ValueError, match="expecting 15 features"):
        model.partial_fit(data[:10, :5])


def test_partial_fit_deep_and_deconv(rng):
    from wnmf_np import DeconvWNMF, DeepWNMF

    X = rng.uniform(size=(40, 36))
    deep = DeepWNMF((2, 3), max_epochs=1, batch_size=8, random_state=0)
    deconv = DeconvWNMF(2, stride=2, image_shape=(6, 6), latent="raw", max_epochs=1, batch_size=8, random_state=0)
    for model, width in ((deep, 2), (deconv, 2 * 16)):
        model.partial_fit(X[:20])
        before = {k: np.array(v, copy=True) for k, v in model.params_.items() if k != "H"}
        model.partial_fit(X[20:])
        assert model.latents_.shape == (40, width)
        assert any(not np.array_equal(model.params_[k], v) for k, v in before.items())  # the shared factors learnt
        assert np.isfinite(model.latents_).all()


# ------------------------------------------------------ load finds what save wrote
def test_load_finds_what_save_wrote(tmp_path, data, monkeypatch):
    """Issue 16: ``save("model")`` wrote model.npz but ``load("model")`` failed."""
    model = WNMF(3, **KW).fit(data)
    monkeypatch.chdir(tmp_path)
    written = model.save("model")
    assert written.name == "model.npz" and written.is_file()
    for name in ("model", "model.npz", tmp_path / "model"):
        np.testing.assert_array_equal(WNMF.load(name).components_, model.components_)
    # a file saved under another name and renamed still loads by its own name
    (tmp_path / "model.npz").rename(tmp_path / "renamed.ckpt")
    assert WNMF.load("renamed.ckpt").n_iter_ == model.n_iter_
    with pytest.raises(CheckpointError, match="no checkpoint file at 'model.npz'"):
        WNMF.load("model")


def test_checkpoint_path_without_suffix_and_as_path_object(tmp_path, data):
    from pathlib import Path

    for path in (str(tmp_path / "run"), Path(tmp_path / "run2")):
        model = WNMF(3, checkpoint_path=path, checkpoint_every=2, **KW).fit(data)
        restored = WNMF.load(path)  # where fit wrote it: run.npz
        np.testing.assert_array_equal(restored.params_["W"], model.params_["W"])
        assert restored.get_params()["checkpoint_path"] == str(path)


# ------------------------------------------------ temporaries of killed saves
_KILLED_SAVE = """
import os, sys, time
import numpy as np
from wnmf_np import WNMF
X = np.random.default_rng(0).uniform(size=(40, 6))
model = WNMF(2, max_epochs=1, random_state=0).fit(X)
def stuck_savez(fh, **arrays):
    fh.write(b"PK\\x03\\x04 a partial archive")
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
np.savez = stuck_savez
model.save(sys.argv[1])
"""


def _killed_save(path):
    """A save killed (SIGKILL) mid-write in another process; returns the temporaries it left."""
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(path)], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == b"writing"
        leftovers = sorted(path.parent.glob(f".{path.name}.*.tmp"))
        assert leftovers  # being written: present and locked
        from wnmf_np.training.checkpoint import remove_stale_temporaries

        assert remove_stale_temporaries(path) == []  # a save in progress is never touched
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    return leftovers


@POSIX
def test_a_later_save_removes_what_a_killed_save_left(tmp_path, data):
    """Issue 19 item 6: a killed save left ``*.tmp`` beside the checkpoint, never cleaned."""
    target = tmp_path / "m.npz"
    leftovers = _killed_save(target)
    assert all(p.exists() for p in leftovers)
    other = tmp_path / ".other.npz.abcdefgh.tmp"  # another target's temporary stays
    other.write_bytes(b"x")
    WNMF(3, **KW).fit(data).save(target)
    assert not any(p.exists() for p in leftovers)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.npz.abcdefgh.tmp", "m.npz"]
    assert WNMF.load(target).n_iter_ == KW["max_epochs"]


@POSIX
def test_stale_temporary_without_lock_is_removed_and_a_locked_one_kept(tmp_path, data):
    import fcntl

    from wnmf_np.training.checkpoint import remove_stale_temporaries

    target = tmp_path / "m.npz"
    stale, live = tmp_path / ".m.npz.aaaaaaaa.tmp", tmp_path / ".m.npz.bbbbbbbb.tmp"
    stale.write_bytes(b"orphan")
    live.write_bytes(b"in progress")
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a writer holds it
        assert remove_stale_temporaries(target) == [stale]
        assert live.exists()
    assert remove_stale_temporaries(target) == [live]


# ----------------------------------------------------------- mid-epoch interrupts
def _signal_at(monkeypatch, call_no, where="step"):
    """Send this process a SIGINT (as Ctrl-C does) during the ``call_no``-th training
    step (or batch-order draw, ``where="order"``), then carry on with it."""
    import os
    import signal

    import wnmf_np.training.data
    import wnmf_np.training.driver

    calls = {"n": 0}
    if where == "step":
        original = wnmf_np.training.driver._step

        def patched(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == call_no:
                os.kill(os.getpid(), signal.SIGINT)
            return original(*args, **kwargs)

        monkeypatch.setattr(wnmf_np.training.driver, "_step", patched)
    else:
        original = wnmf_np.training.data.InMemoryData.permutation

        def patched(self, rng):
            order = original(self, rng)
            calls["n"] += 1
            if calls["n"] == call_no:
                os.kill(os.getpid(), signal.SIGINT)
            return order

        monkeypatch.setattr(wnmf_np.training.data.InMemoryData, "permutation", patched)


@POSIX
@pytest.mark.parametrize("where,call_no", [("step", 14), ("step", 16), ("order", 3)])
def test_ctrl_c_mid_epoch_resumes_exactly(data, monkeypatch, where, call_no):
    """Issue 19 item 10: an interrupt right after an epoch's batch order was drawn (or in
    the middle of an epoch) left counters that looked like an epoch boundary, and
    ``fit(resume=True)`` was not exact. Ctrl-C now takes effect between two steps and the
    unfinished epoch (its order and progress) is resumed where it stopped."""
    reference = WNMF(3, **KW).fit(data)
    model = WNMF(3, **KW)
    _signal_at(monkeypatch, call_no, where)
    with pytest.raises(KeyboardInterrupt):
        model.fit(data)
    monkeypatch.undo()
    state = model.train_state_
    assert state.order is not None and not state.step_interrupted  # honestly mid-epoch
    assert 0 < state.epoch_steps < 5 and state.epoch == ((call_no - 1) // 5 if where == "step" else call_no - 1)
    model.fit(data, resume=True)
    np.testing.assert_array_equal(model.params_["W"], reference.params_["W"])
    np.testing.assert_array_equal(model.params_["H"], reference.params_["H"])
    assert model.loss_curve_ == reference.loss_curve_


def test_interrupt_right_after_drawing_the_order_leaves_an_epoch_boundary(data, monkeypatch):
    """A KeyboardInterrupt raised while the batch order is drawn (the generator already
    advanced) restores the generator: the state is an exact epoch boundary."""
    import wnmf_np.training.data

    reference = WNMF(3, **KW).fit(data)
    original, calls = wnmf_np.training.data.InMemoryData.permutation, {"n": 0}

    def interrupt_on_third(self, rng):
        order = original(self, rng)
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # after the generator advanced
        return order

    model = WNMF(3, **KW)
    monkeypatch.setattr(wnmf_np.training.data.InMemoryData, "permutation", interrupt_on_third)
    with pytest.raises(KeyboardInterrupt):
        model.fit(data)
    monkeypatch.undo()
    assert model.train_state_.order is None and model.n_iter_ == 2
    model.fit(data, resume=True)
    np.testing.assert_array_equal(model.params_["W"], reference.params_["W"])
    np.testing.assert_array_equal(model.params_["H"], reference.params_["H"])


@POSIX
def test_mid_epoch_state_survives_save_and_load(tmp_path, data, monkeypatch):
    reference = WNMF(3, **KW).fit(data)
    model = WNMF(3, **KW)
    _signal_at(monkeypatch, 18)
    with pytest.raises(KeyboardInterrupt):
        model.fit(data)
    monkeypatch.undo()
    path = model.save(tmp_path / "mid")
    restored = WNMF.load(path)
    assert restored.train_state_.epoch_steps == model.train_state_.epoch_steps
    np.testing.assert_array_equal(restored.train_state_.order, model.train_state_.order)
    restored.fit(data, resume=True)
    np.testing.assert_array_equal(restored.params_["W"], reference.params_["W"])
    assert restored.loss_curve_ == reference.loss_curve_


def test_interrupt_inside_a_step_is_recorded_and_resume_warns(tmp_path, data, monkeypatch):
    """Where the interruption cannot be deferred (a second Ctrl-C), it lands inside a step:
    the state says so, through a save and load, and resuming warns that it is not exact."""
    import wnmf_np.training.driver

    original, calls = wnmf_np.training.driver._step, {"n": 0}

    def interrupted_after_updates(*args, **kwargs):
        value = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return value

    model = WNMF(3, **KW)
    monkeypatch.setattr(wnmf_np.training.driver, "_step", interrupted_after_updates)
    with pytest.raises(KeyboardInterrupt):
        model.fit(data)
    monkeypatch.undo()
    assert model.train_state_.step_interrupted and model.train_state_.order is not None
    restored = WNMF.load(model.save(tmp_path / "m"))
    assert restored.train_state_.step_interrupted
    with pytest.warns(UserWarning, match="inside a training step"):
        restored.fit(data, resume=True)
    assert restored.n_iter_ == KW["max_epochs"] and np.isfinite(restored.components_).all()
    assert not restored.train_state_.step_interrupted  # the epoch finished


# ------------------------------------------------------------- partial_fit error
@pytest.mark.parametrize("name", ["WNMF", "DeepWNMF", "DeconvWNMF"])
def test_partial_fit_reports_the_error_on_its_batch(rng, name):
    """Issue 19 item 3: partial_fit left reconstruction_err_ = NaN."""
    from wnmf_np import DeconvWNMF, DeepWNMF

    X = rng.uniform(size=(40, 36))
    model = {
        "WNMF": lambda: WNMF(3, max_epochs=1, batch_size=8, random_state=0),
        "DeepWNMF": lambda: DeepWNMF((2, 3), max_epochs=1, batch_size=8, random_state=0),
        "DeconvWNMF": lambda: DeconvWNMF(2, image_shape=(6, 6), latent="raw", max_epochs=1, batch_size=8, random_state=0),
    }[name]()
    model.partial_fit(X[:20]).partial_fit(X[20:])
    assert np.isfinite(model.reconstruction_err_) and model.reconstruction_err_ > 0
    batch_latents = model.params_["H"][20:]
    R = model.model_.reconstruct(model.params_, batch_latents, model.final_eta_).astype(np.float64) - X[20:]
    assert model.reconstruction_err_ == pytest.approx(np.linalg.norm(R), rel=1e-6)


# ---------------------------------------------------- metadata validation (item 5)
def _edited(tmp_path, model, edit_meta=None, edit_arrays=None, name="m"):
    from helpers import rewrite_checkpoint

    path = model.save(tmp_path / name)
    rewrite_checkpoint(path, edit_meta=edit_meta, edit_arrays=edit_arrays)
    return path


@pytest.mark.parametrize(
    "edit,field",
    [
        (lambda m: m["train"].pop("epoch"), "train.epoch' is missing"),
        (lambda m: m["fitted"].pop("final_eta_"), "fitted.final_eta_' is missing"),
        (lambda m: m["params"].pop("eta"), "params.eta' is missing"),
        (lambda m: m.pop("fitted"), "fitted' is missing"),
        (lambda m: m["train"].update(step=None), "train.step' is null"),
        (lambda m: m["train"].update(epoch="6"), "train.epoch' must be an integer"),
        (lambda m: m["train"].update(loss_curve="0.1"), "train.loss_curve' must be a list"),
        (lambda m: m["train"].update(stopped_early=1), "train.stopped_early' must be true or false"),
        (lambda m: m["fitted"].update(final_eta_=2.0), "fitted.final_eta_' must be in"),
        (lambda m: m["train"].update(epoch=5), "train.loss_curve' has 6 values for 5 epochs"),
        (lambda m: m["params"].update(n_components=5), "checkpoint array 'param/W' has shape"),
        (lambda m: m["fitted"].update(n_features_in_=14), "checkpoint array 'param/W' has shape"),
        (lambda m: m["params"].update(eta=5.0), "params' holds an invalid parameter: The 'eta' parameter of WNMF must be a finite float in the range [0.0, 1.0]. Got 5.0"),
        (lambda m: m["params"].update(max_epochs=0), "The 'max_epochs' parameter of WNMF must be an int in the range [1, inf). Got 0"),
        (lambda m: m["params"].update(backend="gpu"), "The 'backend' parameter of WNMF must be one of ('auto', 'numpy', 'cupy'). Got 'gpu'"),
        (lambda m: m["params"].update(random_state=-1), "The 'random_state' parameter of WNMF must be None, an int >= 0, a numpy Generator or a numpy RandomState. Got -1"),
        (lambda m: m["params"].update(n_threads=0), "The 'n_threads' parameter of WNMF must be"),
        (lambda m: m["params"].update(checkpoint_path=5), "The 'checkpoint_path' parameter of WNMF must be"),
        (lambda m: m["params"].update(checkpoint_every=2), "checkpoint_every needs checkpoint_path"),
        (lambda m: m["params"].update(bogus=1), "params.bogus' is not a parameter of WNMF"),
        (lambda m: m.update(extra=1), "extra' is not a field of this checkpoint"),
        (lambda m: m["rng_state"].update(bit_generator="MT19937"), "rng_state' cannot be restored"),
        (lambda m: m["fitted"].update(backend_="tpu"), "fitted.backend_' must be one of"),
        (lambda m: m["params"].update(h_update="dense"), "checkpoint array 'opt/H/step' has shape"),
    ],
)
def test_load_validates_the_metadata(tmp_path, data, edit, field):
    """Issue 19 item 5: a removed key gave KeyError, a null or mistyped value TypeError, a
    bad value a plain ValueError, and inconsistent checkpoints loaded (n_components 3 -> 5
    with W still (15, 3), n_features_in_ changed, eta=5, backend='gpu' accepted until first
    use). Every such file now raises CheckpointError naming the field."""
    path = _edited(tmp_path, WNMF(3, **KW).fit(data), edit_meta=edit)
    with pytest.raises(CheckpointError, match=re.escape(field)):
        WNMF.load(path)


@pytest.mark.parametrize("array", ["param/W", "param/H", "opt/W/m", "opt/H/v"])
def test_load_rejects_nan_arrays_with_recomputed_checksums(tmp_path, data, array):
    def poison(arrays):
        arrays[array] = arrays[array].copy()
        arrays[array].flat[0] = np.nan

    path = _edited(tmp_path, WNMF(3, **KW).fit(data), edit_arrays=poison)
    with pytest.raises(CheckpointError, match=re.escape(f"'{array}' contains NaN")):
        WNMF.load(path)


def test_load_rejects_negative_adam_moments_and_steps(tmp_path, data):
    model = WNMF(3, **KW).fit(data)
    path = _edited(tmp_path, model, edit_arrays=lambda a: a.update({"opt/W/v": -a["opt/W/v"] - 1}))
    with pytest.raises(CheckpointError, match="'opt/W/v' has negative entries"):
        WNMF.load(path)
    path = _edited(tmp_path, model, edit_arrays=lambda a: a.update({"opt/W/step": np.array(-3)}), name="s")
    with pytest.raises(CheckpointError, match="'opt/W/step' has negative entries"):
        WNMF.load(path)


# ------------------------------------------- the multiplicative estimators (issue 16)
# (the save/load round trip of every estimator is in test_estimator_contract.py)
def _mu_models(rng):
    from wnmf_np import DeepMultiplicativeNMF, MultiplicativeNMF

    X = rng.uniform(size=(30, 12))
    return X, [
        MultiplicativeNMF(3, max_iter=30, random_state=0).fit(X),
        DeepMultiplicativeNMF((2, 3), max_iter=20, pretrain_iter=20, l2=0.1, random_state=0).fit(X),
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multiplicative_files_are_checked(tmp_path, rng):
    from wnmf_np import DeepMultiplicativeNMF, MultiplicativeNMF

    X, models = _mu_models(rng)
    path = models[0].save(tmp_path / "mu")
    with pytest.raises(CheckpointError, match="holds a MultiplicativeNMF, not a DeepMultiplicativeNMF"):
        DeepMultiplicativeNMF.load(path)
    with pytest.raises(CheckpointError, match="holds a MultiplicativeNMF, not a WNMF"):
        WNMF.load(path)
    path = _edited(tmp_path, models[0], edit_meta=lambda m: m["params"].update(n_components=4), name="k")
    with pytest.raises(CheckpointError, match="n_components_' is 3"):
        MultiplicativeNMF.load(path)
    path = _edited(tmp_path, models[0], edit_arrays=lambda a: a.update({"param/components": -a["param/components"]}), name="neg")
    with pytest.raises(CheckpointError, match="negative entries"):
        MultiplicativeNMF.load(path)
    path = _edited(tmp_path, models[0], edit_meta=lambda m: m["params"].update(nan_policy="drop"), name="nan")
    with pytest.raises(CheckpointError, match=re.escape("The 'nan_policy' parameter of MultiplicativeNMF must be")):
        MultiplicativeNMF.load(path)
    path = _edited(tmp_path, models[1], edit_meta=lambda m: m["params"].update(n_threads=0), name="threads")
    with pytest.raises(CheckpointError, match=re.escape("The 'n_threads' parameter of DeepMultiplicativeNMF must be")):
        DeepMultiplicativeNMF.load(path)
    path = _edited(tmp_path, models[1], edit_meta=lambda m: m["params"].update(ranks=[2, 4]), name="ranks")
    with pytest.raises(CheckpointError, match="'param/W1' has shape"):
        DeepMultiplicativeNMF.load(path)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MultiplicativeNMF(2).save(tmp_path / "unfitted")
