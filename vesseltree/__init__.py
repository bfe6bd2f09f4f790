"""vesseltree: vascular morphometry from 3D binary masks.

Skeleton (Lee 1994 thinning), branch graph, local and branch radii (Sadikine et al. 2023,
Eq. 1-2), nearest-branch labels (Eq. 3), scale masks, morphometry tables and synthetic
vessel phantoms. Never imports torch.

Public names are loaded lazily, so ``import vesseltree`` stays fast and a command-line call
only pays for the modules it uses.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "skeletonize": "vesseltree.skeleton",
    "BranchGraph": "vesseltree.graph",
    "build_graph": "vesseltree.graph",
    "analyze": "vesseltree.analysis",
    "AnalysisOptions": "vesseltree.analysis",
    "VesselTree": "vesseltree.tree",
    "ScaleRule": "vesseltree.scales",
    "local_radius": "vesseltree.radius",
    "surface_voxels": "vesseltree.radius",
    "nearest_branch_labels": "vesseltree.labels",
    "scale_thresholds": "vesseltree.scales",
    "masks_from_labels": "vesseltree.scales",
    "classes_from_labels": "vesseltree.scales",
    "scale_masks": "vesseltree.scales",  # deprecated alias of masks_from_labels (one release)
    "make_phantom": "vesseltree.synthetic",
    "render_ct": "vesseltree.synthetic",
    "tube": "vesseltree.synthetic",
    "torus": "vesseltree.synthetic",
    "rasterize_segments": "vesseltree.synthetic",
    "load_volume": "vesseltree.io",
    "save_volume": "vesseltree.io",
}
_SUBMODULES = {"synthetic", "io", "plot", "morphometry", "topology", "radius", "labels",
               "scales", "graph", "skeleton", "tree", "analysis", "cli",
               "inscribed", "curvature", "export", "structures",
               "pipeline", "outputs", "archive", "geometry", "cohort", "pipeline_structures",
               "validation", "datasets", "arrays", "branch_graph", "graph_tables",
               "spur_pruning", "analysis_chain", "file_kinds", "writers", "surface",
               "pipeline_outputs"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"vesseltree.{name}")
    raise AttributeError(f"module 'vesseltree' has no attribute {name!r}")


def __dir__():
    return __all__
