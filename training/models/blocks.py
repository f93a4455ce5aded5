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


def bilinear_kernel(channels: int, size: int) -> torch.Tensor:
    """The (channels, channels, size, size) weight of a transposed convolution that upsamples
    every channel on its own by bilinear interpolation (FCN's initialisation)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(size, dtype=torch.float32) - center).abs() / factor
    weight = torch.zeros(channels, channels, size, size)
    weight[range(channels), range(channels)] = taps[:, None] * taps[None, :]
    return weight


class BilinearUp(nn.ConvTranspose2d):
    """Upsampling by ``factor`` as a transposed convolution initialised to bilinear
    interpolation; ``learned=False`` keeps it fixed (FCN's final upsampling)."""

    def __init__(self, channels: int, factor: int, learned: bool = True):
        super().__init__(channels, channels, 2 * factor, factor, factor // 2, bias=False)
        self.weight.requires_grad_(learned)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.copy_(bilinear_kernel(self.in_channels, self.kernel_size[0]))


def init_weights(model: nn.Module) -> nn.Module:
    """He initialisation for convolutions, unit/zero batch norm (training from scratch);
    :class:`BilinearUp` layers keep their bilinear weights."""
    for m in model.modules():
        if isinstance(m, BilinearUp):
            m.reset_parameters()
        elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model
