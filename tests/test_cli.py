"""``python -m wnmf_np fit FILE``: malformed files give one error line and exit status 2.

The contract (see :mod:`wnmf_np.cli`): bad input prints exactly one line on stderr,
starting ``wnmf-np: error:``, and exits with status 2 — never a traceback. A good small
``.npy``/``.csv``/``.npz``/``.mat`` file runs end to end. Most cases call
``wnmf_np.cli.main`` in-process (fast); a few run the real ``python -m wnmf_np``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wnmf_np.cli import main

REPO = Path(__file__).resolve().parents[1]
FAST = ["--max-epochs", "2", "-r", "2", "-q"]
PREFIX = "wnmf-np: error:"

pytestmark = pytest.mark.filterwarnings("ignore")


def _good(rng=None, shape=(8, 5)):
    rng = rng or np.random.default_rng(0)
    return rng.uniform(0, 1, shape)


# -------------------------------------------------------------- malformed files
def _write_npy_bytes(path: Path, cut):
    np.save(path, _good())
    raw = path.read_bytes()
    path.write_bytes(raw[: cut(len(raw))])


def make_bad(tmp_path: Path, case: str) -> Path:
    """Write the malformed file ``case`` under tmp_path; returns its path."""
    p = tmp_path
    if case == "empty_npy":
        (f := p / "x.npy").write_bytes(b"")
    elif case == "empty_csv":
        (f := p / "x.csv").write_text("")
    elif case == "blank_lines_csv":
        (f := p / "x.csv").write_text("\n\n   \n")
    elif case == "garbage_csv":
        (f := p / "x.csv").write_text("hello,world\nfoo,bar\n")
    elif case == "header_only_csv":
        (f := p / "x.csv").write_text("a,b,c\n")
    elif case == "text_in_body_csv":
        (f := p / "x.csv").write_text("1,2\n3,abc\n")
    elif case == "ragged_csv":
        (f := p / "x.csv").write_text("1,2,3\n4,5\n")
    elif case == "binary_csv":
        (f := p / "x.csv").write_bytes(bytes(range(256)) * 4)
    elif case == "truncated_npy":
        _write_npy_bytes(f := p / "x.npy", lambda n: n - 40)
    elif case == "truncated_header_npy":
        _write_npy_bytes(f := p / "x.npy", lambda n: 20)
    elif case == "not_npy":
        (f := p / "x.npy").write_text("just some text, not an array\n")
    elif case == "1d_npy":
        np.save(f := p / "x.npy", np.arange(5.0))
    elif case == "3d_npy":
        np.save(f := p / "x.npy", np.zeros((2, 3, 4)))
    elif case == "0d_npy":
        np.save(f := p / "x.npy", np.float64(3.0))
    elif case == "object_npy":
        np.save(f := p / "x.npy", np.array([[1, "a"], [2, "b"]], dtype=object), allow_pickle=True)
    elif case == "string_npy":
        np.save(f := p / "x.npy", np.array([["a", "b"], ["c", "d"]]))
    elif case == "complex_npy":
        np.save(f := p / "x.npy", np.ones((3, 3), dtype=complex))
    elif case == "no_rows_npy":
        np.save(f := p / "x.npy", np.zeros((0, 3)))
    elif case == "nan_npy":
        X = _good()
        X[1, 2] = np.nan
        np.save(f := p / "x.npy", X)
    elif case == "inf_npy":
        X = _good()
        X[0, 0] = np.inf
        np.save(f := p / "x.npy", X)
    elif case == "empty_npz":
        np.savez(f := p / "x.npz")
    elif case == "two_arrays_npz":
        np.savez(f := p / "x.npz", a=_good(), b=_good())
    elif case == "not_zip_npz":
        (f := p / "x.npz").write_bytes(b"PK\x03\x04 but not really a zip file")
    elif case == "text_npz":
        (f := p / "x.npz").write_text("hello")
    elif case == "junk_mat":
        (f := p / "x.mat").write_bytes(b"junk" * 10)
    elif case == "wrong_extension":
        np.save(p / "x.npy", _good())
        (p / "x.npy").rename(f := p / "x.txt")
    elif case == "no_extension":
        np.save(p / "x.npy", _good())
        (p / "x.npy").rename(f := p / "data")
    elif case == "missing":
        f = p / "does_not_exist.npy"
    elif case == "directory":
        (f := p / "folder.npy").mkdir()
    else:  # pragma: no cover
        raise KeyError(case)
    return f


BAD_CASES = [
    "empty_csv",
    "blank_lines_csv",
    "garbage_csv",
    "header_only_csv",
    "text_in_body_csv",
    "ragged_csv",
    "binary_csv",
    "truncated_npy",
    "truncated_header_npy",
    "not_npy",
    "1d_npy",
    "3d_npy",
    "0d_npy",
    "object_npy",
    "string_npy",
    "complex_npy",
    "no_rows_npy",
    "nan_npy",
    "inf_npy",
    "empty_npz",
    "two_arrays_npz",
    "text_npz",
    "wrong_extension",
    "no_extension",
    "missing",
    "directory",
    # bugs found by this file: a traceback instead of the one-line error
    pytest.param(
        "empty_npy"
    ),
    pytest.param(
        "not_zip_npz"
    ),
    pytest.param(
        "junk_mat"
    ),
]


def run_main(argv, capsys):
    """``main(argv)`` -> (status, stdout, stderr); any exception escaping main is a failure."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse
        status = exc.code
    except BaseException as exc:  # noqa: BLE001 - a traceback is exactly what must not happen
        pytest.fail(f"main() raised {type(exc).__name__}: {exc} (the user would see a traceback)")
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err):
    lines = err.strip().splitlines()
    assert status == 2, f"exit status {status}, stderr: {err!r}"
    assert len(lines) == 1, f"expected one error line, got {len(lines)}: {err!r}"
    assert lines[0].startswith(PREFIX), lines[0]
    assert len(lines[0]) > len(PREFIX) + 5, "the error line says nothing"
    assert "Traceback" not in err


@pytest.mark.parametrize("case", BAD_CASES)
def test_malformed_file_one_line_error(tmp_path, capsys, case):
    path = make_bad(tmp_path, case)
    status, _, err = run_main(["fit", str(path), *FAST], capsys)
    assert_one_line_error(status, err)


def test_error_names_the_file(tmp_path, capsys):
    path = make_bad(tmp_path, "3d_npy")
    status, _, err = run_main(["fit", str(path), *FAST], capsys)
    assert_one_line_error(status, err)
    assert "x.npy" in err and "2-D" in err


def test_missing_file_named(tmp_path, capsys):
    path = tmp_path / "nope.csv"
    status, _, err = run_main(["fit", str(path), *FAST], capsys)
    assert_one_line_error(status, err)
    assert "nope.csv" in err


@pytest.mark.parametrize(
    "extra",
    [
        ["--key", "nothere"],  # .npz key that does not exist
        ["--labels-key", "nothere"],
    ],
)
def test_bad_keys(tmp_path, capsys, extra):
    path = tmp_path / "x.npz"
    np.savez(path, X=_good())
    status, _, err = run_main(["fit", str(path), *FAST, *extra], capsys)
    assert_one_line_error(status, err)


def test_csv_label_column_out_of_range(tmp_path, capsys):
    path = tmp_path / "x.csv"
    np.savetxt(path, _good(), delimiter=",")
    status, _, err = run_main(["fit", str(path), *FAST, "--labels-key", "17"], capsys)
    assert_one_line_error(status, err)


@pytest.mark.parametrize("value", [1e300, 3e38])
def test_values_beyond_float32_one_line_error(tmp_path, capsys, value):
    path = tmp_path / "huge.npy"
    np.save(path, np.full((6, 4), value))
    status, out, err = run_main(["fit", str(path), *FAST], capsys)
    if status == 0:  # a fit is fine too, if it is finite
        assert "nan" not in out.lower() and "inf" not in out.lower()
    else:
        assert_one_line_error(status, err)


# --------------------------------------------------------------------- good files
def _check_report(out: str):
    assert "reconstruction error" in out
    assert "nan" not in out.lower().replace("nan_policy", "")


@pytest.mark.parametrize("fmt", ["npy", "npy_float32", "npy_int", "npy_fortran", "csv", "csv_header", "npz", "mat"])
def test_good_file_end_to_end(tmp_path, capsys, fmt):
    X = _good()
    if fmt.startswith("npy"):
        path = tmp_path / "x.npy"
        data = {"npy": X, "npy_float32": X.astype(np.float32), "npy_int": np.round(X * 9).astype(int),
                "npy_fortran": np.asfortranarray(X)}[fmt]
        np.save(path, data)
    elif fmt == "csv":
        path = tmp_path / "x.csv"
        np.savetxt(path, X, delimiter=",")
    elif fmt == "csv_header":
        path = tmp_path / "x.csv"
        np.savetxt(path, X, delimiter=",", header="a,b,c,d,e", comments="")
    elif fmt == "npz":
        path = tmp_path / "x.npz"
        np.savez(path, data=X)
    else:
        import scipy.io

        path = tmp_path / "x.mat"
        scipy.io.savemat(path, {"X": X})
    status, out, err = run_main(["fit", str(path), *FAST], capsys)
    assert status == 0, err
    assert err == ""
    _check_report(out)
    assert "8 samples x 5 features" in out


def test_csv_with_labels_and_output(tmp_path, capsys):
    X = _good(shape=(12, 4))
    y = np.repeat([0, 1, 2], 4)
    path = tmp_path / "x.csv"
    with open(path, "w") as fh:
        fh.write("a,b,c,d,label\n")
        for row, label in zip(X, y):
            fh.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")
    out_path = tmp_path / "out.npz"
    status, out, err = run_main(
        ["fit", str(path), *FAST, "--labels-key", "label", "-o", str(out_path)], capsys
    )
    assert status == 0, err
    _check_report(out)
    assert "NMI" in out
    with np.load(out_path) as res:
        assert res["components"].shape == (2, 4)
        assert res["latents"].shape == (12, 2)
        assert np.isfinite(res["components"]).all() and np.isfinite(res["latents"]).all()


def test_mu_model_and_nan_omit(tmp_path, capsys):
    X = _good()
    X[2, 3] = np.nan
    path = tmp_path / "x.npy"
    np.save(path, X)
    for model in ("wnmf", "mu"):
        status, out, err = run_main(["fit", str(path), *FAST, "--model", model, "--nan-policy", "omit"], capsys)
        assert status == 0, err
        assert "reconstruction error" in out


def test_input_file_untouched(tmp_path, capsys):
    X = _good()
    path = tmp_path / "x.npy"
    np.save(path, X)
    before = path.read_bytes()
    status, _, err = run_main(["fit", str(path), *FAST], capsys)
    assert status == 0, err
    assert path.read_bytes() == before


# ------------------------------------------------------------- real subprocesses
def _cli(*args, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "wnmf_np", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )


@pytest.mark.slow
def test_subprocess_good_npy(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, _good())
    res = _cli("fit", str(path), *FAST)
    assert res.returncode == 0, res.stderr
    _check_report(res.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["garbage_csv", "missing", "3d_npy"])
def test_subprocess_bad_file(tmp_path, case):
    path = make_bad(tmp_path, case)
    res = _cli("fit", str(path), *FAST)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_subprocess_empty_npy(tmp_path):
    path = make_bad(tmp_path, "empty_npy")
    res = _cli("fit", str(path), *FAST)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "rank"), [("mfeat", 40), ("digits", 10)])
def test_builtin_default_rank(capsys, dataset, rank):
    """Built-in ORL and mfeat use the rank of docs/results (40); other data the class count."""
    status, out, err = run_main(["fit", "--dataset", dataset, "--max-epochs", "1", "-q"], capsys)
    assert status == 0, err
    assert f"(n_components={rank})" in out


# ------------------------------------------------- files NumPy misreports (issue 19.7)
CORRUPT_HEADER = b"\x93NUMPY\x01\x00" + (60).to_bytes(2, "little") + b"{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4 \n"


@pytest.mark.parametrize(
    ("name", "content", "phrase"),
    [
        ("x.npy", CORRUPT_HEADER + bytes(128), "corrupt .npy header"),  # was a tokenize.TokenError traceback
        ("x.npy", bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8)), "not a .npy file"),
        ("x.npz", bytes(np.random.default_rng(1).integers(0, 256, 512, dtype=np.uint8)), "not a .npz file"),
        ("x.npz", b"PK\x03\x04 but not really a zip file", "not a .npz file"),
        ("x.npz", b"\x93NUMPY\x01\x00 a .npy header in a .npz", "not a .npz file"),
    ],
    ids=["corrupt_npy_header", "random_bytes_npy", "random_bytes_npz", "pk_but_not_zip_npz", "npy_as_npz"],
)
def test_misread_files_named_in_one_line(tmp_path, capsys, name, content, phrase):
    """NumPy's own messages were a traceback or advice to pass allow_pickle (which would
    run code from the file); now one line naming the file and what is wrong with it."""
    path = tmp_path / name
    path.write_bytes(content)
    status, _, err = run_main(["fit", str(path), *FAST], capsys)
    assert_one_line_error(status, err)
    assert str(path) in err and phrase in err
    assert "allow_pickle" not in err and "pickled" not in err


@pytest.mark.parametrize("fmt", ["npy", "npz"])
def test_object_array_named_without_pickle_advice(tmp_path, capsys, fmt):
    obj = np.array([[1, "a"], [2, "b"]], dtype=object)
    path = tmp_path / f"x.{fmt}"
    np.save(path, obj, allow_pickle=True) if fmt == "npy" else np.savez(path, data=obj)
    status, _, err = run_main(["fit", str(path), *FAST], capsys)
    assert_one_line_error(status, err)
    assert str(path) in err and "object" in err and "allow_pickle" not in err


# ------------------------------------------------------- options checked before the fit
def _npy(tmp_path, X=None):
    path = tmp_path / "x.npy"
    np.save(path, _good() if X is None else X)
    return path


def test_all_zero_matrix_refused_before_the_fit(tmp_path, capsys):
    status, out, err = run_main(["fit", str(_npy(tmp_path, np.zeros((6, 4)))), *FAST], capsys)
    assert_one_line_error(status, err)  # was a ZeroDivisionError traceback after the fit
    assert "every entry is 0" in err and "fit:" not in out


def test_cupy_backend_without_cupy_one_line(tmp_path, capsys):
    from wnmf_np.core.backend import cupy_available

    if cupy_available():
        pytest.skip("CuPy works here")
    status, out, err = run_main(["fit", str(_npy(tmp_path)), *FAST, "--backend", "cupy"], capsys)
    assert_one_line_error(status, err)  # was an uncaught BackendUnavailableError
    assert "gpu" in err and "samples x" not in out


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        (["-r", "0"], "-r/--n-components: must be >= 1"),  # was run silently at rank 10
        (["-r", "two"], "expected an integer"),
        (["--threads", "0"], "--threads: must be >= 1"),
        (["--clusters", "3"], "--clusters needs labels"),
        (["--model", "mu", "--eta", "0.5", "--l2", "0.1"], "--eta, --l2 apply to --model wnmf only"),
        (["--model", "mu", "--loss", "kl"], "--loss applies to --model wnmf only"),
        (["-o", "no/such/folder/out"], "does not exist"),
        (["--save-model", "no/such/folder/model"], "does not exist"),
        (["--dtype", "float16"], "invalid choice"),
    ],
)
def test_bad_options_one_line_before_the_fit(tmp_path, capsys, monkeypatch, extra, phrase):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_main(["fit", str(_npy(tmp_path)), *FAST[:2], "-q", *extra], capsys)
    assert_one_line_error(status, err)
    assert phrase in err, err
    assert "fit:" not in out  # nothing was fitted


def test_rank_above_min_shape_warns(tmp_path, capsys):
    status, out, err = run_main(["fit", str(_npy(tmp_path)), "--max-epochs", "2", "-q", "-r", "7"], capsys)
    assert status == 0
    assert "warning: rank 7 exceeds min(n_samples, n_features) = 5" in err
    _check_report(out)


def test_output_gets_npz_suffix_and_real_path(tmp_path, capsys):
    target = tmp_path / "out_csv"
    status, out, err = run_main(["fit", str(_npy(tmp_path)), *FAST, "-o", str(target)], capsys)
    assert status == 0, err
    real = tmp_path / "out_csv.npz"
    assert real.exists() and not target.exists()
    assert f"to {real}" in out  # was "saved ... to out_csv"
    with np.load(real) as res:
        assert res["latents"].shape == (8, 2)


def test_save_model_loadable(tmp_path, capsys):
    from wnmf_np import WNMF

    X = _good()
    status, out, err = run_main(["fit", str(_npy(tmp_path, X)), *FAST, "--save-model", str(tmp_path / "m.npz")], capsys)
    assert status == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("saved the model to "))
    path = line.split("saved the model to ")[1].split(" (load")[0]
    model = WNMF.load(path)
    assert model.components_.shape == (2, 5)
    assert np.isfinite(np.asarray(model.transform(X))).all()


def test_plots_written(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "figs" / "run1"  # created, parents included
    status, out, err = run_main(["fit", str(_npy(tmp_path, _good(shape=(12, 16)))), *FAST, "--plots", str(folder)], capsys)
    assert status == 0, err
    for name in ("basis.png", "histograms.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(folder / "basis.png") in out


def test_plots_without_matplotlib_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    status, out, err = run_main(["fit", str(_npy(tmp_path)), *FAST, "--plots", str(tmp_path / "p")], capsys)
    assert_one_line_error(status, err)
    assert "matplotlib" in err and "plot" in err and "fit:" not in out


def test_hints_use_cli_flags(tmp_path, capsys):
    X = _good()
    X[1, 1] = np.nan
    status, _, err = run_main(["fit", str(_npy(tmp_path, X)), *FAST], capsys)
    assert_one_line_error(status, err)
    assert "--nan-policy omit" in err and "nan_policy=" not in err


def test_cli_message_translation():
    from wnmf_np.cli import cli_message

    assert cli_message("pass nan_policy='omit' or use dtype='float64'.") == "pass --nan-policy omit or use --dtype float64."
    assert cli_message("labels_key=17 is out of range") == "--labels-key 17 is out of range"
    assert cli_message("init='random' stays") == "init='random' stays"  # no such flag


def test_negative_csv_label_index(tmp_path, capsys):
    path = tmp_path / "x.csv"
    rows = np.hstack([_good(shape=(12, 4)), np.repeat([0, 1, 2], 4)[:, None]])
    np.savetxt(path, rows, delimiter=",")
    status, out, err = run_main(["fit", str(path), *FAST, "--labels-key", "-1"], capsys)
    assert status == 0, err  # was refused as a column name
    assert "12 samples x 4 features" in out and "NMI (k=3" in out


def test_help_shows_defaults_of_the_code(capsys):
    import inspect

    from wnmf_np import WNMF

    status, out, _ = run_main(["fit", "--help"], capsys)
    assert status == 0
    flat = " ".join(out.split())
    defaults = inspect.signature(WNMF).parameters
    for flag, param in [("--eta", "eta"), ("--batch-size", "batch_size"), ("--lr", "lr"), ("--max-epochs", "max_epochs")]:
        assert flag in flat and f"default {defaults[param].default}" in flat, flag
    assert "(default: raise)" in flat and "--loss" in flat and "(default l1)" in flat


def test_version(capsys):
    import wnmf_np

    status, out, _ = run_main(["--version"], capsys)
    assert status == 0 and out.strip() == f"wnmf-np {wnmf_np.__version__}"
