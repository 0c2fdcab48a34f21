"""``python -m wnmf_np`` runs the command line (see :mod:`wnmf_np.cli`)."""

import sys

from .cli import main

sys.exit(main())
