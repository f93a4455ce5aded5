"""Building blocks shared by several models."""

from __future__ import annotations

import functools

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
    return bilinear(x, size=tuple(ref.shape[-2:]))


def bilinear(
    x: torch.Tensor,
    size: tuple[int, int] | None = None,
    scale_factor: float | None = None,
    matrices: bool | None = None,
) -> torch.Tensor:
    """Bilinear resizing (``align_corners=False``), as ``F.interpolate`` does it.

    Its backward on CUDA accumulates with atomics, so it is not deterministic; with
    deterministic algorithms on (``--deterministic``) and a gradient to compute on CUDA it is
    done as two products with interpolation matrices instead (``matrices`` forces either).
    """
    if matrices is None:
        matrices = x.is_cuda and x.requires_grad and torch.are_deterministic_algorithms_enabled()
    if not matrices:
        return nn.functional.interpolate(
            x, size=size, scale_factor=scale_factor, mode="bilinear", align_corners=False
        )
    h, w = x.shape[-2:]
    out = size or (int(h * scale_factor), int(w * scale_factor))
    # F.interpolate's source scale: 1 / scale_factor when given, else input / output size.
    scales = (1 / scale_factor,) * 2 if scale_factor else (h / out[0], w / out[1])
    rows = _resize_matrix(h, out[0], scales[0]).to(x.device, x.dtype)
    cols = _resize_matrix(w, out[1], scales[1]).to(x.device, x.dtype)
    with torch.autocast(x.device.type, enabled=False):
        return rows @ x @ cols.T


@functools.lru_cache(maxsize=64)
def _resize_matrix(n_in: int, n_out: int, scale: float) -> torch.Tensor:
    """The (n_out, n_in) weights of 1-D linear interpolation, ``align_corners=False``."""
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * scale - 0.5).clamp(min=0)
    low = src.floor().long().clamp(max=n_in - 1)
    high = (low + 1).clamp(max=n_in - 1)
    frac = src - low
    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    target = torch.arange(n_out)
    weights.index_put_((target, low), 1 - frac, accumulate=True)
    weights.index_put_((target, high), frac, accumulate=True)
    return weights


class Bilinear(nn.Module):
    """:func:`bilinear` resizing by ``scale_factor``, as a layer."""

    def __init__(self, scale_factor: float):
        super().__init__()
        self.scale_factor = scale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bilinear(x, scale_factor=self.scale_factor)


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
