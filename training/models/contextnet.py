"""ContextNet (Poudel et al. 2018): a deep branch at low resolution for context, a shallow
branch at high resolution for detail, fused."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from landslide4sense.training.models.blocks import (
    SeparableConv,
    bilinear,
    conv_bn_relu,
    upsample_to,
)


class Bottleneck(nn.Module):
    """MobileNet-v2 inverted residual: 1 x 1 expansion (t), 3 x 3 depthwise, 1 x 1 projection."""

    def __init__(self, cin: int, cout: int, t: int, stride: int):
        super().__init__()
        hidden = cin * t
        self.body = nn.Sequential(
            conv_bn_relu(cin, hidden, 1),
            conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


# (t, c, n, s) of the deep branch, from ContextNet's Table 1.
DEEP = ((1, 32, 1, 1), (6, 32, 1, 1), (6, 48, 3, 2), (6, 64, 3, 2), (6, 96, 2, 1), (6, 128, 2, 1))


class ContextNet(nn.Module):
    """ContextNet-14: the deep branch sees the input at 1/4 resolution (a 3 x 3 stride-2 conv,
    bottleneck residual blocks, a 3 x 3 conv: 1/32 overall); the shallow branch sees it at full
    resolution (a conv and three depthwise-separable convs: 1/8). Fusion upsamples the deep
    features x4 into a dilated depthwise conv, adds both after 1 x 1 convs; a classifier of two
    depthwise-separable convs and a 1 x 1 conv; bilinear upsampling to the input."""

    def __init__(self, in_channels: int = 14, num_classes: int = 2):
        super().__init__()
        layers, c = [conv_bn_relu(in_channels, 32, 3, 2)], 32
        for t, cout, n, s in DEEP:
            for i in range(n):
                layers.append(Bottleneck(c, cout, t, s if i == 0 else 1))
                c = cout
        self.deep = nn.Sequential(*layers, conv_bn_relu(128, 128, 3))
        self.shallow = nn.Sequential(
            conv_bn_relu(in_channels, 32, 3, 2),
            SeparableConv(32, 64, 2),
            SeparableConv(64, 128, 2),
            SeparableConv(128, 128, 1),
        )
        self.fuse_deep = nn.Sequential(
            conv_bn_relu(128, 128, 3, dilation=4, groups=128),
            nn.Conv2d(128, 128, 1, bias=False),
            nn.BatchNorm2d(128),
        )
        self.fuse_shallow = nn.Sequential(nn.Conv2d(128, 128, 1, bias=False), nn.BatchNorm2d(128))
        self.classifier = nn.Sequential(
            SeparableConv(128, 128),
            SeparableConv(128, 128),
            nn.Dropout(0.1),
            nn.Conv2d(128, num_classes, 1),
        )

    def forward(self, x):
        small = bilinear(x, scale_factor=0.25)
        shallow = self.shallow(x)
        deep = upsample_to(self.deep(small), shallow)
        fused = F.relu(self.fuse_deep(deep) + self.fuse_shallow(shallow))
        return upsample_to(self.classifier(fused), x)
