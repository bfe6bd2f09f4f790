"""Build the compiled core of vesseltree (Cython kernels under vesseltree/_kernels).

One extension per ``.pyx``: ``neighbourhood`` (the 3x3x3 topology tests and their tables),
``thinning`` (Lee thinning, the public kernel entry points) and ``straighten`` (curve
straightening); they share declarations through their ``.pxd`` files and
``thinning_state.pxd``. All metadata lives in pyproject.toml; this file only declares the
extensions.
"""
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent

extensions = [
    Extension(
        f"vesseltree._kernels.{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for pyx in sorted((HERE / "vesseltree" / "_kernels").glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=[str(HERE)],  # cimports name the full module path vesseltree._kernels.*
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
)
