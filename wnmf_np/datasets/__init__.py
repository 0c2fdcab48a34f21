"""Data sets of the paper and loaders for the user's own data.

Convention (scikit-learn's): a data matrix ``X`` has shape ``(n_samples, n_features)``,
one sample per row; the paper's matrix is ``X.T``.

Two of the paper's four data sets ship with the package (see ``wnmf_np/datasets/bundled/README.md``
for provenance, citations and checksums), so they load offline:

* :func:`load_orl` -- ORL / AT&T faces, 400 images of 112 x 92 pixels, 40 subjects;
* :func:`load_mfeat` -- UCI Multiple Features digits, 2000 x 585 non-negative features, 10 classes.

The other two (AR faces, ImageNet-CNN features) cannot be redistributed; they plug in
through :func:`load_image_folder` and :func:`load_matrix`. ``docs/datasets.md`` shows how.
"""

# the constants and PathLike were importable from here before the split: re-exported
from .images import load_image_folder
from .matrix_files import load_matrix
from .paper import (  # noqa: F401
    MFEAT_KAR_WIDTH,
    MFEAT_N_CLASSES,
    MFEAT_SCALINGS,
    MFEAT_VIEWS,
    ORL_IMAGE_SHAPE,
    ORL_IMAGES_PER_SUBJECT,
    ORL_N_SUBJECTS,
    load_mfeat,
    load_orl,
)
from .paths import PathLike  # noqa: F401

__all__ = ["load_orl", "load_mfeat", "load_matrix", "load_image_folder"]
