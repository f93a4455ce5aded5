"""Building blocks shared by several models."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(
    cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1, groups: int = 1
) -> nn.Sequential:
    """Convolution ("same" padding), batch norm, ReLU."""
    pad = dilation * (k - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SeparableConv(nn.Sequential):
    """Depthwise (optionally atrous) 3 x 3 convolution, then pointwise 1 x 1, each with BN+ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__(
            conv_bn_relu(cin, cin, 3, stride, dilation, groups=cin),
            conv_bn_relu(cin, cout, 1),
        )


def upsample_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bilinear upsampling of ``x`` to the spatial size of ``ref``."""
    return nn.functional.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


def init_weights(model: nn.Module) -> nn.Module:
    """He initialisation for convolutions, unit/zero batch norm (training from scratch)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model
