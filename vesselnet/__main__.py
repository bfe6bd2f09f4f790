"""``python -m vesselnet``: the ``vesselnet`` command line (:mod:`vesselnet.cli`)."""
import sys

from vesselnet.cli import main

sys.exit(main())
