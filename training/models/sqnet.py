"""SQNet (Treml et al. 2016): SqueezeNet encoder, parallel dilated convolutions, refinement."""

from __future__ import annotations

import torch
from torch import nn

from landslide4sense.training.models.blocks import upsample_to


class Fire(nn.Module):
    """SqueezeNet fire module with ELU: 1 x 1 squeeze, then 1 x 1 and 3 x 3 expands concatenated."""

    def __init__(self, cin: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ELU(inplace=True))
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ELU(inplace=True))
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ELU(inplace=True))

    def forward(self, x):
        s = self.squeeze(x)
        return torch.cat([self.e1(s), self.e3(s)], dim=1)


class ParallelDilated(nn.Module):
    """Four 3 x 3 convolutions with dilation 1, 2, 4 and 8, summed."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Conv2d(cin, cout, 3, padding=d, dilation=d) for d in (1, 2, 4, 8)]
        )
        self.act = nn.ELU(inplace=True)

    def forward(self, x):
        return self.act(sum(conv(x) for conv in self.convs))


class Refinement(nn.Module):
    """SharpMask-like refinement: a 3 x 3 convolution of the encoder's skip features,
    concatenated with the upsampled decoder features, fused by a 3 x 3 convolution."""

    def __init__(self, c_up: int, c_skip: int, cout: int):
        super().__init__()
        self.skip = nn.Sequential(nn.Conv2d(c_skip, c_skip, 3, padding=1), nn.ELU(inplace=True))
        self.fuse = nn.Sequential(
            nn.Conv2d(c_up + c_skip, cout, 3, padding=1), nn.ELU(inplace=True)
        )

    def forward(self, up, skip):
        return self.fuse(torch.cat([upsample_to(up, skip), self.skip(skip)], dim=1))


class SQNet(nn.Module):
    """SQNet: SqueezeNet 1.1 encoder (ELU), parallel dilated convolutions at 1/16, a decoder of
    transposed convolutions and three refinement modules fed by the encoder, full-resolution
    scores."""

    def __init__(self, in_channels: int = 14, num_classes: int = 2):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 96, 3, 2, 1), nn.ELU(inplace=True))
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.stage1 = nn.Sequential(Fire(96, 16, 64), Fire(128, 16, 64))  # 1/4, 128
        self.stage2 = nn.Sequential(Fire(128, 32, 128), Fire(256, 32, 128))  # 1/8, 256
        self.stage3 = nn.Sequential(
            Fire(256, 48, 192), Fire(384, 48, 192), Fire(384, 64, 256), Fire(512, 64, 256)
        )  # 1/16, 512
        self.dilated = ParallelDilated(512, 512)
        self.up3 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 3, 2, 1, output_padding=1), nn.ELU(inplace=True)
        )
        self.refine3 = Refinement(256, 256, 256)  # 1/8
        self.up2 = nn.Sequential(
            nn.ConvTranspose2d(256, 128, 3, 2, 1, output_padding=1), nn.ELU(inplace=True)
        )
        self.refine2 = Refinement(128, 128, 128)  # 1/4
        self.up1 = nn.Sequential(
            nn.ConvTranspose2d(128, 96, 3, 2, 1, output_padding=1), nn.ELU(inplace=True)
        )
        self.refine1 = Refinement(96, 96, 96)  # 1/2
        self.head = nn.ConvTranspose2d(96, num_classes, 3, 2, 1, output_padding=1)

    def forward(self, x):
        c1 = self.conv1(x)
        s1 = self.stage1(self.pool(c1))
        s2 = self.stage2(self.pool(s1))
        s3 = self.stage3(self.pool(s2))
        d = self.refine3(self.up3(self.dilated(s3)), s2)
        d = self.refine2(self.up2(d), s1)
        d = self.refine1(self.up1(d), c1)
        return upsample_to(self.head(d), x)
