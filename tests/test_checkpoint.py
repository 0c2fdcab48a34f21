"""Checkpoints (save/load/resume, atomic writes, hostile files) and streaming partial_fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import low_rank_nonneg

from wnmf_np import WNMF, CheckpointError

KW = dict(max_epochs=6, batch_size=16, random_state=3, n_iter_no_change=None, dtype="float64")


@pytest.fixture
def data(rng):
    return low_rank_nonneg(rng, n_samples=80, n_features=15, rank=3)[0]


def _interrupt_at(epoch_to_stop):
    def callback(epoch, info):
        if epoch == epoch_to_stop:
            raise KeyboardInterrupt

    return callback


def test_save_load_roundtrip(tmp_path, data):
    model = WNMF(3, **KW).fit(data)
    path = model.save(tmp_path / "model")
    assert path.suffix == ".npz"
    loaded = WNMF.load(path)
    np.testing.assert_array_equal(loaded.components_, model.components_)
    np.testing.assert_array_equal(loaded.latents_, model.latents_)
    assert loaded.loss_curve_ == model.loss_curve_ and loaded.n_iter_ == model.n_iter_
    assert loaded.get_params() == {**model.get_params(), "callback": None}
    np.testing.assert_array_equal(loaded.transform(data[:5]), model.transform(data[:5]))


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
