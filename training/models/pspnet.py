"""PSPNet (Zhao et al. 2017): dilated ResNet-50 and a pyramid pooling module."""

from __future__ import annotations

import torch
from torch import nn

from landslide4sense.training.models.blocks import conv_bn_relu, upsample_to
from landslide4sense.training.models.resnet import ResNet


class PyramidPooling(nn.Module):
    """Average-pool the features to 1 x 1, 2 x 2, 3 x 3 and 6 x 6 bins, reduce each to a quarter
    of the channels, upsample and concatenate with the features."""

    def __init__(self, cin: int, bins=(1, 2, 3, 6)):
        super().__init__()
        self.stages = nn.ModuleList(
            [
                nn.Sequential(nn.AdaptiveAvgPool2d(b), conv_bn_relu(cin, cin // len(bins), 1))
                for b in bins
            ]
        )

    def forward(self, x):
        return torch.cat([x] + [upsample_to(stage(x), x) for stage in self.stages], dim=1)


class PSPNet(nn.Module):
    """PSPNet-50: dilated ResNet-50 (deep stem, output stride 8), pyramid pooling over bins
    1/2/3/6, a 3 x 3 convolution with dropout 0.1, a 1 x 1 classifier, bilinear upsampling.
    The paper's auxiliary loss on layer 3 is left out (one loss for every baseline)."""

    def __init__(self, in_channels: int = 14, num_classes: int = 2):
        super().__init__()
        self.backbone = ResNet(50, in_channels, output_stride=8, deep_stem=True)
        c = self.backbone.channels[-1]
        self.ppm = PyramidPooling(c)
        self.head = nn.Sequential(
            conv_bn_relu(2 * c, 512, 3), nn.Dropout2d(0.1), nn.Conv2d(512, num_classes, 1)
        )

    def forward(self, x):
        return upsample_to(self.head(self.ppm(self.backbone(x)[-1])), x)
