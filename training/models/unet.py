"""U-Net (Ronneberger et al. 2015) and ResU-Net (Zhang, Liu & Wang 2018)."""

from __future__ import annotations

import torch
from torch import nn

from landslide4sense.training.models.blocks import Bilinear


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(True),
    )


class UNet(nn.Module):
    """U-Net: a contracting path of double 3 x 3 convolutions (64..1024 channels, four 2 x 2
    max-pools) and an expanding path of 2 x 2 up-convolutions, concatenated skips and double
    convolutions, then a 1 x 1 classifier.

    Differences from the paper: "same" padding (so the output is 128 x 128, no cropping) and
    batch normalisation after each convolution (the paper predates it; Adam from scratch needs
    it), as the Landslide4Sense baseline code does.
    """

    def __init__(self, in_channels: int = 14, num_classes: int = 2, base: int = 64):
        super().__init__()
        widths = [base * 2**i for i in range(5)]
        self.down = nn.ModuleList(
            [double_conv(in_channels, widths[0])]
            + [double_conv(widths[i], widths[i + 1]) for i in range(4)]
        )
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(widths[i + 1], widths[i], 2, 2) for i in reversed(range(4))]
        )
        self.dec = nn.ModuleList(
            [double_conv(widths[i] * 2, widths[i]) for i in reversed(range(4))]
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)


class ResidualUnit(nn.Module):
    """Pre-activation residual unit of ResU-Net: (BN, ReLU, 3 x 3 conv) twice, plus a 1 x 1
    projection shortcut. ``first`` drops the leading BN-ReLU (the network's first unit)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, first: bool = False):
        super().__init__()
        pre = [] if first else [nn.BatchNorm2d(cin), nn.ReLU(True)]
        self.body = nn.Sequential(
            *pre,
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
        )
        self.shortcut = nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
        )

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class ResUNet(nn.Module):
    """ResU-Net ("Road extraction by deep residual U-Net"): U-Net whose plain convolutions are
    residual units. Encoder 64-128-256 (downsampling by stride-2 convolutions), bridge 512,
    decoder 256-128-64 with upsampling and concatenated skips, 1 x 1 classifier."""

    def __init__(self, in_channels: int = 14, num_classes: int = 2, base: int = 64):
        super().__init__()
        w = [base, base * 2, base * 4, base * 8]
        self.enc = nn.ModuleList(
            [
                ResidualUnit(in_channels, w[0], first=True),
                ResidualUnit(w[0], w[1], 2),
                ResidualUnit(w[1], w[2], 2),
            ]
        )
        self.bridge = ResidualUnit(w[2], w[3], 2)
        self.up = Bilinear(2)
        self.dec = nn.ModuleList(
            [
                ResidualUnit(w[3] + w[2], w[2]),
                ResidualUnit(w[2] + w[1], w[1]),
                ResidualUnit(w[1] + w[0], w[0]),
            ]
        )
        self.head = nn.Sequential(
            nn.BatchNorm2d(w[0]), nn.ReLU(True), nn.Conv2d(w[0], num_classes, 1)
        )

    def forward(self, x):
        skips = []
        for unit in self.enc:
            x = unit(x)
            skips.append(x)
        x = self.bridge(x)
        for unit in self.dec:
            x = unit(torch.cat([self.up(x), skips.pop()], dim=1))
        return self.head(x)
