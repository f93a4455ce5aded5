"""LinkNet (Chaurasia & Culurciello 2017): a ResNet-18 encoder linked to a light decoder."""

from __future__ import annotations

from torch import nn

from landslide4sense.training.models.blocks import conv_bn_relu, upsample_to
from landslide4sense.training.models.resnet import ResNet


class DecoderBlock(nn.Sequential):
    """1 x 1 conv (m -> m/4), 3 x 3 full (transposed) conv with stride 2, 1 x 1 conv (m/4 -> n)."""

    def __init__(self, m: int, n: int):
        super().__init__(
            conv_bn_relu(m, m // 4, 1),
            nn.ConvTranspose2d(m // 4, m // 4, 3, 2, 1, output_padding=1, bias=False),
            nn.BatchNorm2d(m // 4),
            nn.ReLU(True),
            conv_bn_relu(m // 4, n, 1),
        )


class LinkNet(nn.Module):
    """LinkNet: encoder blocks of ResNet-18 (64-128-256-512, each halving the resolution after
    the 7 x 7 stem and max-pool, as in the paper); each decoder block's output is
    added to the matching encoder output (the "link"); a final 3 x 3 full convolution, a 3 x 3
    convolution and a 2 x 2 full convolution bring the scores back to full resolution."""

    def __init__(self, in_channels: int = 14, num_classes: int = 2):
        super().__init__()
        self.encoder = ResNet(18, in_channels, first_stride=2)
        self.decoders = nn.ModuleList(
            [
                DecoderBlock(512, 256),
                DecoderBlock(256, 128),
                DecoderBlock(128, 64),
                DecoderBlock(64, 64),
            ]
        )
        self.final = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(True),
            conv_bn_relu(32, 32, 3),
            nn.ConvTranspose2d(32, num_classes, 2, 2),
        )

    def forward(self, x):
        e1, e2, e3, e4 = self.encoder(x)
        d = self.decoders[0](e4) + e3
        d = self.decoders[1](d) + e2
        d = self.decoders[2](d) + e1
        d = self.decoders[3](d)
        y = self.final(d)
        return upsample_to(y, x) if y.shape[-2:] != x.shape[-2:] else y
