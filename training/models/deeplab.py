"""DeepLab-v2 (Chen et al. 2018) and DeepLab-v3+ (Chen et al. 2018, ECCV)."""

from __future__ import annotations

import torch
from torch import nn

from landslide4sense.training.models.blocks import SeparableConv, conv_bn_relu, upsample_to
from landslide4sense.training.models.resnet import ResNet


class DeepLabV2(nn.Module):
    """DeepLab-v2 (ASPP-L): dilated ResNet-101 at output stride 8; four parallel 3 x 3 atrous
    classifiers (rates 6, 12, 18, 24) summed; bilinear upsampling. The fully connected CRF is a
    post-processing step, not part of training, and is left out."""

    def __init__(self, in_channels: int = 14, num_classes: int = 2, rates=(6, 12, 18, 24)):
        super().__init__()
        self.backbone = ResNet(101, in_channels, output_stride=8)
        c = self.backbone.channels[-1]
        self.aspp = nn.ModuleList(
            [nn.Conv2d(c, num_classes, 3, padding=r, dilation=r) for r in rates]
        )

    def forward(self, x):
        f = self.backbone(x)[-1]
        return upsample_to(sum(branch(f) for branch in self.aspp), x)


class ASPP(nn.Module):
    """DeepLab-v3 atrous spatial pyramid pooling with separable atrous convolutions: a 1 x 1
    branch, three 3 x 3 branches (rates 6, 12, 18), image pooling (global average, 1 x 1
    convolution, batch norm, ReLU); concatenated, projected."""

    def __init__(self, cin: int, cout: int = 256, rates=(6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList(
            [conv_bn_relu(cin, cout, 1)] + [SeparableConv(cin, cout, dilation=r) for r in rates]
        )
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), conv_bn_relu(cin, cout, 1))
        n = len(self.branches) + 1
        self.project = nn.Sequential(conv_bn_relu(n * cout, cout, 1), nn.Dropout(0.1))

    def forward(self, x):
        pooled = upsample_to(self.image_pool(x), x)
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class DeepLabV3Plus(nn.Module):
    """DeepLab-v3+: ResNet-101 encoder at output stride 16 with ASPP; decoder joins the
    encoder output (upsampled x4) with 48 channels of low-level features (layer 1), refines with
    two separable 3 x 3 convolutions and upsamples x4. (The paper's best backbone is an aligned
    Xception; its ResNet-101 variant is used here.)"""

    def __init__(self, in_channels: int = 14, num_classes: int = 2):
        super().__init__()
        self.backbone = ResNet(101, in_channels, output_stride=16)
        self.aspp = ASPP(self.backbone.channels[-1])
        self.low = conv_bn_relu(self.backbone.channels[0], 48, 1)
        self.decoder = nn.Sequential(
            SeparableConv(256 + 48, 256), SeparableConv(256, 256), nn.Conv2d(256, num_classes, 1)
        )

    def forward(self, x):
        c1, _, _, c4 = self.backbone(x)
        low = self.low(c1)
        y = self.decoder(torch.cat([upsample_to(self.aspp(c4), low), low], dim=1))
        return upsample_to(y, x)
