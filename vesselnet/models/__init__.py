"""Networks of vesselnet: the 3D ResUNet baseline and the shared-encoder multi-task net.

- :class:`ResUNet3d` - single-task baseline (binary or multi-class), Fig. 3 of the paper.
- :class:`MultiTaskResUNet3d` - shared encoder E, decoders D_0..D_S (Eq. 4) and
  :class:`ProjectionHead` s on the auxiliary decoders (Eq. 6).
"""
from vesselnet.models.blocks import ConvBNAct, DownBlock, ResidualUnit, UpBlock
from vesselnet.models.multitask import MultiTaskOutput, MultiTaskResUNet3d, ProjectionHead
from vesselnet.models.resunet import Decoder, Encoder, ResUNet3d

__all__ = [
    "ResUNet3d",
    "MultiTaskResUNet3d",
    "MultiTaskOutput",
    "ProjectionHead",
    "Encoder",
    "Decoder",
    "ResidualUnit",
    "ConvBNAct",
    "DownBlock",
    "UpBlock",
]
