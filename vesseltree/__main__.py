"""``python -m vesseltree``: same as the ``vesseltree`` command."""
import sys

from vesseltree.cli import main

sys.exit(main())
