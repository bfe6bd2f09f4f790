"""One module per ``vesselnet`` command (besides ``evaluate``), found by :mod:`vesselnet.cli`.

A command module exposes ``add_parser(subparsers)``: it adds its sub-parser and sets ``func``
(parsed arguments in, exit code out). It must not import torch at module level, so that
``vesselnet --help`` and ``vesselnet evaluate`` work without torch; the work lives in the
packages (:mod:`vesselnet.data`, :mod:`vesselnet.train`, ...), the module only parses.
"""
