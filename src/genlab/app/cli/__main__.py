"""``python -m genlab.app.cli ...`` (and ``torchrun ... -m genlab.app.cli ...``): the ``genlab`` command."""

import sys

from . import main

sys.exit(main())
