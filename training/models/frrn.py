"""Full-Resolution Residual Networks FRRN-A and FRRN-B (Pohlen et al. 2017)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from landslide4sense.training.models.blocks import bilinear

RESIDUAL = 32  # channels of the full-resolution residual stream


class RU(nn.Module):
    """Residual unit: 3 x 3 conv, BN, ReLU, 3 x 3 conv, BN, plus the input."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x):
        return x + self.body(x)


class FRRU(nn.Module):
    """Full-resolution residual unit at ``scale``: the pooling stream (``cin`` channels) is
    concatenated with the residual stream max-pooled to its scale, passed through two
    3 x 3 conv-BN-ReLU; a 1 x 1 projection of the result, upsampled, is added to the residual
    stream."""

    def __init__(self, cin: int, cout: int, scale: int):
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(
            nn.Conv2d(cin + RESIDUAL, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(True),
        )
        self.to_residual = nn.Conv2d(cout, RESIDUAL, 1)

    def forward(self, y, z):
        pooled = F.max_pool2d(z, self.scale) if self.scale > 1 else z
        y = self.body(torch.cat([y, pooled], dim=1))
        r = self.to_residual(y)
        if self.scale > 1:
            r = F.interpolate(r, scale_factor=self.scale, mode="nearest")
        return y, z + r


# (number of FRRUs, channels, scale) of the encoder; the decoder mirrors FRRN's Table 1.
ENCODER_A = ((3, 96, 2), (4, 192, 4), (2, 384, 8), (2, 384, 16))
DECODER_A = ((2, 192, 8), (2, 192, 4), (2, 96, 2))
ENCODER_B = (*ENCODER_A, (2, 384, 32))
DECODER_B = ((2, 192, 16), *DECODER_A)


class FRRN(nn.Module):
    """FRRN: a 5 x 5 convolution and three RUs (48 channels), then a pooling stream of FRRUs
    going down and back up beside a 32-channel residual stream kept at full resolution; the
    streams merge, three RUs and a 1 x 1 classifier follow. ``variant`` 'A' goes down to 1/16,
    'B' to 1/32."""

    def __init__(self, in_channels: int = 14, num_classes: int = 2, variant: str = "A"):
        super().__init__()
        encoder, decoder = (ENCODER_A, DECODER_A) if variant == "A" else (ENCODER_B, DECODER_B)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 48, 5, padding=2, bias=False),
            nn.BatchNorm2d(48),
            nn.ReLU(True),
            RU(48),
            RU(48),
            RU(48),
        )
        self.split = nn.Conv2d(48, RESIDUAL, 1)
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        c = 48
        for n, cout, scale in encoder:
            self.down.append(
                nn.ModuleList([FRRU(c if i == 0 else cout, cout, scale) for i in range(n)])
            )
            c = cout
        for n, cout, scale in decoder:
            self.up.append(
                nn.ModuleList([FRRU(c if i == 0 else cout, cout, scale) for i in range(n)])
            )
            c = cout
        self.merge = nn.Sequential(
            nn.Conv2d(c + RESIDUAL, 48, 1, bias=False),
            nn.BatchNorm2d(48),
            nn.ReLU(True),
            RU(48),
            RU(48),
            RU(48),
        )
        self.head = nn.Conv2d(48, num_classes, 1)

    def forward(self, x):
        y = self.stem(x)
        z = self.split(y)
        for units in self.down:
            y = F.max_pool2d(y, 2)
            for unit in units:
                y, z = unit(y, z)
        for units in self.up:
            y = bilinear(y, scale_factor=2)
            for unit in units:
                y, z = unit(y, z)
        y = bilinear(y, scale_factor=2)
        return self.head(self.merge(torch.cat([y, z], dim=1)))
