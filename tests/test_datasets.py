"""Tests of wnmf_np.datasets: shipped data, the PGM / UCI / matrix / image-folder readers."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from wnmf_np.datasets import (
    MFEAT_VIEWS,
    load_image_folder,
    load_matrix,
    load_mfeat,
    load_orl,
)

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "wnmf_np" / "datasets" / "bundled"


SHARED_DATA_ENV = "WNMF_NP_SHARED_DATA"


def _shared_data_dir() -> Path:
    """Where the project's shared raw data would be: $WNMF_NP_SHARED_DATA, else ../shared/data
    next to this checkout."""
    return Path(os.environ.get(SHARED_DATA_ENV) or REPO.parent / "shared" / "data").expanduser()


def _has_shared_data(folder: Path) -> bool:
    return (folder / "orl" / "data.npz").is_file() and (folder / "mfeat" / "data.npz").is_file()


SHARED = _shared_data_dir()
needs_shared = pytest.mark.skipif(
    not _has_shared_data(SHARED),
    reason=f"shared raw data not found in {SHARED} (orl/data.npz, mfeat/data.npz); set {SHARED_DATA_ENV} to its folder",
)


# ------------------------------------------------------------------ writing helpers
def write_pgm(path: Path, image: np.ndarray, maxval: int = 255, comment: bool = True) -> None:
    """Write a binary PGM (P5), with header comments in two places when ``comment``."""
    height, width = image.shape
    note = b"# written by the wnmf_np tests\n" if comment else b""
    header = b"P5\n" + note + f"{width} {height}\n".encode() + note + f"{maxval}\n".encode()
    raster = image.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    path.write_bytes(header + raster)


def write_ppm(path: Path, image: np.ndarray) -> None:
    """Write an 8-bit binary PPM (P6) of shape (height, width, 3)."""
    height, width, _ = image.shape
    path.write_bytes(f"P6 {width} {height} 255\n".encode() + image.astype(np.uint8).tobytes())


def make_orl_folder(root: Path, rng: np.random.Generator, shape=(6, 5)) -> np.ndarray:
    """A synthetic ORL-layout folder (s1..s40 / 1..10.pgm); returns the pixels (400, h*w)."""
    rows = []
    for subject in range(1, 41):
        (root / f"s{subject}").mkdir(parents=True)
        for k in range(1, 11):
            image = rng.integers(0, 256, size=shape)
            image[0, 0] = 10  # b"\n" first raster byte: only one whitespace after maxval may be skipped
            write_pgm(root / f"s{subject}" / f"{k}.pgm", image)
            rows.append(image.reshape(-1))
    (root / "README").write_text("not an image; must be ignored\n")
    return np.vstack(rows)


@pytest.fixture(scope="module")
def orl_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("orl") / "att_faces"
    pixels = make_orl_folder(root, np.random.default_rng(0))
    return root, pixels


@pytest.fixture
def orl_copy(orl_folder, tmp_path):
    """A private copy of the synthetic ORL folder that a test may damage."""
    root, _ = orl_folder
    return Path(shutil.copytree(root, tmp_path / "att_faces"))


def make_mfeat_folder(root: Path, rng: np.random.Generator, n_rows: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic UCI mfeat text files; returns the stacked 585 columns and the kar view."""
    root.mkdir(parents=True, exist_ok=True)
    blocks = []
    for i, (view, width) in enumerate(MFEAT_VIEWS):
        block = rng.uniform(0, 10.0 ** (i - 1), size=(n_rows, width))
        name = f"mfeat-{view}" + (".txt" if view == "zer" else "")  # both spellings occur
        np.savetxt(root / name, block, fmt="%.17g")
        blocks.append(block)
    kar = rng.normal(size=(n_rows, 64))
    np.savetxt(root / "mfeat-kar", kar, fmt="%.17g")
    return np.hstack(blocks), kar


# ------------------------------------------------------------------------- ORL
def test_load_orl_shipped_shapes_range_and_classes():
    bunch = load_orl()
    X, y = bunch.data, bunch.target
    assert X.shape == (400, 112 * 92) and X.dtype == np.float64
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert y.dtype == np.int64 and y.shape == (400,)
    np.testing.assert_array_equal(np.bincount(y), np.full(40, 10))
    np.testing.assert_array_equal(y, np.repeat(np.arange(40), 10))  # rows in s1..s40 order
    assert bunch.image_shape == (112, 92)
    assert "Olivetti" in bunch.description
    assert X[0].reshape(bunch.image_shape).shape == (112, 92)


def test_load_orl_scale_false_is_raw_bytes_and_return_X_y():
    X_raw, y_raw = load_orl(scale=False, return_X_y=True)
    X, y = load_orl(return_X_y=True)
    np.testing.assert_array_equal(X_raw, np.round(X_raw))
    assert X_raw.min() >= 0 and X_raw.max() <= 255 and X_raw.max() > 1
    np.testing.assert_allclose(X * 255.0, X_raw, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(y, y_raw)


@needs_shared
def test_shipped_orl_matches_shared_copy():
    shared = np.load(SHARED / "orl" / "data.npz")
    X, y = load_orl(scale=False, return_X_y=True)
    np.testing.assert_array_equal(X, shared["X"].astype(np.float64))
    np.testing.assert_array_equal(y, shared["y"])
    bunch = load_orl(path=SHARED / "orl" / "data.npz")
    np.testing.assert_array_equal(bunch.data, load_orl().data)
    assert bunch.image_shape == tuple(shared["shape"])


def test_orl_pgm_folder_round_trip(orl_folder):
    root, pixels = orl_folder
    bunch = load_orl(path=root)
    np.testing.assert_allclose(bunch.data, pixels / 255.0)
    np.testing.assert_array_equal(bunch.target, np.repeat(np.arange(40), 10))
    assert bunch.image_shape == (6, 5)
    X_raw, _ = load_orl(path=str(root), scale=False, return_X_y=True)
    np.testing.assert_array_equal(X_raw, pixels)


def test_orl_folder_equals_generic_image_folder(orl_folder):
    root, _ = orl_folder
    X, y, shape = load_image_folder(root)  # natural order: s2 before s10, 2.pgm before 10.pgm
    bunch = load_orl(path=root)
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)
    assert shape == bunch.image_shape


def test_orl_npz_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(30, 12), dtype=np.uint8)
    y = np.arange(30) % 3
    np.savez_compressed(tmp_path / "mine.npz", X=X, y=y, shape=np.array([4, 3]))
    bunch = load_orl(path=tmp_path / "mine.npz", scale=False)
    np.testing.assert_array_equal(bunch.data, X)
    np.testing.assert_array_equal(bunch.target, y)
    assert bunch.image_shape == (4, 3)


def test_orl_missing_subject_folder(orl_copy):
    shutil.rmtree(orl_copy / "s17")
    with pytest.raises(FileNotFoundError, match="s17"):
        load_orl(path=orl_copy)


def test_orl_wrong_image_count(orl_copy):
    (orl_copy / "s3" / "5.pgm").unlink()
    with pytest.raises(ValueError, match="s3"):
        load_orl(path=orl_copy)


def test_orl_inconsistent_sizes(orl_copy):
    write_pgm(orl_copy / "s40" / "10.pgm", np.zeros((7, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="inconsistent image sizes"):
        load_orl(path=orl_copy)


def test_orl_truncated_pgm(orl_copy):
    file = orl_copy / "s2" / "4.pgm"
    file.write_bytes(file.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        load_orl(path=orl_copy)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"P2\n5 6\n255\n" + b"1 " * 30, "magic number"),  # ASCII PGM is not read
        (b"P5\n5", "header"),  # header cut short
        (b"P5\n5 x\n255\n", "height"),
    ],
)
def test_malformed_pgm_headers(orl_copy, content, message):
    (orl_copy / "s1" / "1.pgm").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_orl(path=orl_copy)


def test_orl_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_orl(path=tmp_path / "nowhere")
    (tmp_path / "faces.zip").write_bytes(b"PK")
    with pytest.raises(ValueError, match="folder"):
        load_orl(path=tmp_path / "faces.zip")
    np.savez(tmp_path / "other.npz", X=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        load_orl(path=tmp_path / "other.npz")


# ------------------------------------------------------------------------ mfeat
def test_load_mfeat_shipped_max_scaling():
    bunch = load_mfeat()
    X, y = bunch.data, bunch.target
    assert X.shape == (2000, 585) and X.dtype == np.float64
    assert X.min() >= 0.0
    np.testing.assert_allclose(X.max(axis=0), 1.0)  # no all-zero column in mfeat
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, np.repeat(np.arange(10), 200))
    widths = {name: sl.stop - sl.start for name, sl in bunch.feature_blocks.items()}
    assert widths == dict(MFEAT_VIEWS)
    assert sum(widths.values()) == 585
    assert bunch.kar.shape == (2000, 64) and bunch.kar.min() < 0  # kar is why it is excluded


def test_load_mfeat_scalings_are_consistent():
    raw = load_mfeat(scaling="none")
    np.testing.assert_array_equal(raw.scale, np.ones(585))
    assert raw.data.max() / raw.data[:, raw.feature_blocks["fou"]].max() > 1e4  # why we scale
    for name in ("fac", "pix"):  # integer-valued views stay exact
        block = raw.data[:, raw.feature_blocks[name]]
        np.testing.assert_array_equal(block, np.round(block))
    scaled = load_mfeat(scaling="max")
    np.testing.assert_allclose(scaled.data, raw.data / raw.data.max(axis=0))
    np.testing.assert_allclose(scaled.data * scaled.scale, raw.data)
    block = load_mfeat(scaling="block")
    for sl in block.feature_blocks.values():
        assert block.data[:, sl].max() == pytest.approx(1.0)
        np.testing.assert_allclose(block.data[:, sl], raw.data[:, sl] / raw.data[:, sl].max())
    X, y = load_mfeat(return_X_y=True)
    np.testing.assert_array_equal(X, scaled.data)


def test_load_mfeat_bad_scaling():
    with pytest.raises(ValueError, match="scaling"):
        load_mfeat(scaling="standard")


@needs_shared
def test_shipped_mfeat_matches_shared_copy():
    shared = np.load(SHARED / "mfeat" / "data.npz")
    raw = load_mfeat(scaling="none")
    np.testing.assert_array_equal(raw.data, shared["X"])
    np.testing.assert_array_equal(raw.target, shared["y"])
    np.testing.assert_array_equal(raw.kar, shared["X_kar"])
    assert list(raw.feature_blocks) == list(shared["blocks"])
    via_path = load_mfeat(path=SHARED / "mfeat" / "data.npz", scaling="none")  # stacked layout
    np.testing.assert_array_equal(via_path.data, shared["X"])


def test_mfeat_text_files_round_trip(tmp_path):
    expected, kar = make_mfeat_folder(tmp_path / "uci", np.random.default_rng(2))
    bunch = load_mfeat(path=tmp_path / "uci", scaling="none")
    np.testing.assert_array_equal(bunch.data, expected)
    np.testing.assert_array_equal(bunch.kar, kar)
    np.testing.assert_array_equal(bunch.target, np.repeat(np.arange(10), 2))
    scaled = load_mfeat(path=tmp_path / "uci")
    np.testing.assert_allclose(scaled.data, expected / expected.max(axis=0))


def test_mfeat_folder_without_kar_and_npz_round_trip(tmp_path):
    expected, _ = make_mfeat_folder(tmp_path / "uci", np.random.default_rng(3))
    (tmp_path / "uci" / "mfeat-kar").unlink()
    assert load_mfeat(path=tmp_path / "uci").kar is None
    y = np.repeat(np.arange(10), 2)[::-1].copy()
    np.savez(tmp_path / "stacked.npz", X=expected, y=y)
    bunch = load_mfeat(path=tmp_path / "stacked.npz", scaling="none")
    np.testing.assert_array_equal(bunch.data, expected)
    np.testing.assert_array_equal(bunch.target, y)  # explicit labels win over the implicit order


@pytest.mark.parametrize(
    "damage, error, message",
    [
        (lambda d: (d / "mfeat-mor").unlink(), FileNotFoundError, "mfeat-mor"),
        (lambda d: np.savetxt(d / "mfeat-fou", np.ones((20, 75))), ValueError, "columns"),
        (lambda d: np.savetxt(d / "mfeat-fac", np.ones((30, 216))), ValueError, "rows"),
        (lambda d: (d / "mfeat-pix").write_text("1 2 x\n"), ValueError, "mfeat-pix"),
        (lambda d: np.savetxt(d / "mfeat-mor", -np.ones((20, 6))), ValueError, "non-negative"),
    ],
)
def test_mfeat_folder_errors(tmp_path, damage, error, message):
    make_mfeat_folder(tmp_path, np.random.default_rng(4))
    damage(tmp_path)
    with pytest.raises(error, match=message):
        load_mfeat(path=tmp_path)


def test_mfeat_rows_not_divisible_into_classes(tmp_path):
    make_mfeat_folder(tmp_path, np.random.default_rng(5), n_rows=13)
    with pytest.raises(ValueError, match="10 equal digit classes"):
        load_mfeat(path=tmp_path)


# ------------------------------------------------------------------ load_matrix
def test_load_matrix_npy_keeps_float32_and_converts_ints(tmp_path):
    X32 = np.random.default_rng(6).random((5, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", X32)
    X, y = load_matrix(tmp_path / "a.npy")
    assert X.dtype == np.float32 and y is None
    np.testing.assert_array_equal(X, X32)
    np.save(tmp_path / "b.npy", np.arange(6).reshape(2, 3))
    X, _ = load_matrix(str(tmp_path / "b.npy"))
    assert X.dtype == np.float64
    with pytest.raises(ValueError, match="key"):
        load_matrix(tmp_path / "a.npy", key="X")


def test_load_matrix_npz(tmp_path):
    rng = np.random.default_rng(7)
    X0, y0 = rng.random((8, 4)), np.arange(8) % 2
    np.savez(tmp_path / "one.npz", feats=X0)
    np.testing.assert_array_equal(load_matrix(tmp_path / "one.npz")[0], X0)
    np.savez(tmp_path / "two.npz", feats=X0, labels=y0)
    X, y = load_matrix(tmp_path / "two.npz", labels_key="labels")  # the other array is the data
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert y.dtype == np.int64
    with pytest.raises(ValueError, match="feats.*labels|labels.*feats"):
        load_matrix(tmp_path / "two.npz")  # ambiguous without key
    with pytest.raises(ValueError, match=r"available keys: \['feats', 'labels'\]"):
        load_matrix(tmp_path / "two.npz", key="X")
    with pytest.raises(ValueError, match="labels_key 'target'"):
        load_matrix(tmp_path / "two.npz", key="feats", labels_key="target")


def test_load_matrix_mat(tmp_path):
    rng = np.random.default_rng(8)
    X0 = rng.random((6, 3))
    labels = np.arange(1, 7, dtype=np.float64)  # MATLAB labels: doubles, saved as a row
    scipy.io.savemat(tmp_path / "d.mat", {"fea": X0, "gnd": labels, "S": sp.csr_matrix(np.eye(6))})
    X, y = load_matrix(tmp_path / "d.mat", key="fea", labels_key="gnd")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, np.arange(1, 7))
    assert y.dtype == np.int64
    S, _ = load_matrix(tmp_path / "d.mat", key="S")  # sparse is densified
    np.testing.assert_array_equal(S, np.eye(6))
    with pytest.raises(ValueError, match="available keys"):
        load_matrix(tmp_path / "d.mat", key="X")
    with pytest.raises(ValueError, match="key="):
        load_matrix(tmp_path / "d.mat")


def test_load_matrix_csv(tmp_path):
    (tmp_path / "h.csv").write_text("a,label,b\n1.5,cat,2\n,dog,4e1\n\n3,cat,-1\n")
    X, y = load_matrix(tmp_path / "h.csv", labels_key="label")
    np.testing.assert_array_equal(X, [[1.5, 2.0], [np.nan, 40.0], [3.0, -1.0]])  # empty -> NaN
    np.testing.assert_array_equal(y, ["cat", "dog", "cat"])
    X_idx, y_idx = load_matrix(tmp_path / "h.csv", labels_key=1)
    np.testing.assert_array_equal(X_idx, X)
    np.testing.assert_array_equal(y_idx, y)
    (tmp_path / "n.csv").write_text("1,2,0\n3,4,1\n5,6,1\n")
    X, y = load_matrix(tmp_path / "n.csv", labels_key=-1)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(y, [0, 1, 1])
    assert y.dtype == np.int64
    X, y = load_matrix(tmp_path / "n.csv")
    assert X.shape == (3, 3) and y is None


def test_load_matrix_csv_with_byte_order_mark(tmp_path):
    """A UTF-8 BOM made the first numeric row look like text, so it was taken as a header
    and lost (issue 19.8)."""
    (tmp_path / "bom.csv").write_bytes("\ufeff1,2\n3,4\n5,6\n7,8\n".encode())
    X, y = load_matrix(tmp_path / "bom.csv")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6], [7, 8]])
    (tmp_path / "bom_header.csv").write_bytes("\ufeffa,label\n1,0\n2,1\n".encode())
    X, y = load_matrix(tmp_path / "bom_header.csv", labels_key="a")  # the name has no BOM glued to it
    np.testing.assert_array_equal(y, [1, 2])


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("1,2\n3,oops\n", {}, "line 2, column 2: non-numeric value 'oops'"),
        ("a,b\n1,2\n3\n", {}, "line 3: 1 fields, expected 2"),
        ("1,2\n3,4\n", {"labels_key": "b"}, "no header"),
        ("a,b\n1,2\n", {"labels_key": "c"}, "not a column"),
        ("a,b\n1,2\n", {"labels_key": 5}, "out of range"),
        ("a,b\n", {}, "no data rows"),
        ("", {}, "empty"),
    ],
)
def test_load_matrix_csv_errors(tmp_path, text, kwargs, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_matrix(tmp_path / "bad.csv", **kwargs)


def test_load_matrix_general_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_matrix(tmp_path / "missing.npy")
    (tmp_path / "x.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="unsupported file type '.parquet'"):
        load_matrix(tmp_path / "x.parquet")
    np.save(tmp_path / "vec.npy", np.arange(4.0))
    with pytest.raises(ValueError, match="2-D"):
        load_matrix(tmp_path / "vec.npy")
    np.save(tmp_path / "txt.npy", np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="real numbers"):
        load_matrix(tmp_path / "txt.npy")
    np.savez(tmp_path / "short.npz", X=np.ones((3, 2)), y=np.arange(2))
    with pytest.raises(ValueError, match="length 3"):
        load_matrix(tmp_path / "short.npz", key="X", labels_key="y")


# ------------------------------------------------------------- load_image_folder
def test_image_folder_natural_order_and_16_bit(tmp_path):
    rng = np.random.default_rng(9)
    expected = {}
    for name, count in (("s10", 2), ("s2", 3), ("s1", 1)):
        (tmp_path / name).mkdir()
        for k in (10, 2):
            image = rng.integers(0, 1024, size=(3, 4))
            write_pgm(tmp_path / name / f"{k}.pgm", image, maxval=1023)
            expected[(name, k)] = image.reshape(-1) / 1023
    (tmp_path / ".hidden").mkdir()
    X, y, shape = load_image_folder(tmp_path)
    order = [(s, k) for s in ("s1", "s2", "s10") for k in (2, 10)]
    np.testing.assert_allclose(X, np.vstack([expected[key] for key in order]))
    np.testing.assert_array_equal(y, [0, 0, 1, 1, 2, 2])
    assert shape == (3, 4) and 0 <= X.min() and X.max() <= 1


def test_image_folder_color_ppm(tmp_path):
    rng = np.random.default_rng(10)
    images = rng.integers(0, 256, size=(2, 3, 4, 3))
    for c, image in enumerate(images):
        (tmp_path / f"c{c}").mkdir()
        write_ppm(tmp_path / f"c{c}" / "0.ppm", image)
    X, y, shape = load_image_folder(tmp_path, color=True)
    assert shape == (3, 4, 3)
    np.testing.assert_allclose(X, images.reshape(2, -1) / 255)
    with pytest.raises(ValueError, match="color=False"):
        load_image_folder(tmp_path)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "absent")
    with pytest.raises(ValueError, match="no class subfolders"):
        load_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_pgm(tmp_path / "a" / "1.pgm", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="holds no readable images"):
        load_image_folder(tmp_path)
    write_pgm(tmp_path / "b" / "1.pgm", np.zeros((4, 5)))
    with pytest.raises(ValueError, match="inconsistent image sizes"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match=r"expected \(4, 5\)"):
        load_image_folder(tmp_path, shape=(4, 5))


def test_image_folder_png_with_pillow(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(11)
    gray = rng.integers(0, 256, size=(2, 5, 4), dtype=np.uint8)
    for c in range(2):
        (tmp_path / f"k{c}").mkdir()
        Image.fromarray(gray[c]).save(tmp_path / f"k{c}" / "img.png")
    X, y, shape = load_image_folder(tmp_path)
    np.testing.assert_allclose(X, gray.reshape(2, -1) / 255)
    assert shape == (5, 4)
    Image.fromarray(np.zeros((5, 4, 3), dtype=np.uint8)).save(tmp_path / "k1" / "rgb.png")
    with pytest.raises(ValueError, match="color=True"):
        load_image_folder(tmp_path)


def test_image_folder_without_pillow_reads_pgm_and_explains_png(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `import PIL` fail
    (tmp_path / "a").mkdir()
    write_pgm(tmp_path / "a" / "1.pgm", np.full((2, 2), 255))
    X, _, _ = load_image_folder(tmp_path)
    np.testing.assert_array_equal(X, np.ones((1, 4)))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "1.png").write_bytes(b"\x89PNG")
    with pytest.raises(ValueError, match="need Pillow"):
        load_image_folder(tmp_path)


# --------------------------------------------------------------------- provenance
@pytest.mark.parametrize("name", ["orl.npz", "mfeat.npz"])
def test_shipped_files_match_readme_checksums(name):
    readme = (DATA_DIR / "README.md").read_text()
    match = re.search(rf"sha256\({re.escape(name)}\) = ([0-9a-f]{{64}})", readme)
    assert match, f"README.md lists no sha256 for {name}"
    assert hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest() == match.group(1)


def test_shipped_data_stays_compact():
    total = sum(f.stat().st_size for f in DATA_DIR.glob("*.npz"))
    assert total < 8 * 2**20
