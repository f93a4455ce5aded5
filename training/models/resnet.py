"""ResNet encoders (He et al. 2016), with optional dilation for dense prediction.

Used as the backbone of PSPNet and DeepLab (dilated, output stride 8 or 16) and of LinkNet
(plain ResNet-18). Built from scratch: nothing is downloaded.
"""

from __future__ import annotations

from torch import nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self,
        cin: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, dilation, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self,
        cin: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


LAYERS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


class ResNet(nn.Module):
    """ResNet-``depth`` features: ``forward`` returns the outputs of layer1..layer4.

    Args:
        depth: 18, 34, 50 or 101.
        in_channels: input bands.
        output_stride: 32 (plain), 16 (layer4 dilated) or 8 (layers 3 and 4 dilated).
        deep_stem: three 3 x 3 convolutions instead of one 7 x 7 (PSPNet's ResNet).
        first_stride: stride of layer1 (2 in LinkNet, whose every encoder block halves).
    """

    def __init__(
        self,
        depth: int,
        in_channels: int,
        output_stride: int = 32,
        deep_stem: bool = False,
        first_stride: int = 1,
    ):
        super().__init__()
        block, counts = LAYERS[depth]
        if deep_stem:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, 64, 3, 2, 1, bias=False),
                nn.BatchNorm2d(64),
                nn.ReLU(True),
                nn.Conv2d(64, 64, 3, 1, 1, bias=False),
                nn.BatchNorm2d(64),
                nn.ReLU(True),
                nn.Conv2d(64, 128, 3, 1, 1, bias=False),
                nn.BatchNorm2d(128),
                nn.ReLU(True),
            )
            self.cin = 128
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(True)
            )
            self.cin = 64
        self.pool = nn.MaxPool2d(3, 2, 1)
        strides, dilations = {32: ((2, 2), (1, 1)), 16: ((2, 1), (1, 2)), 8: ((1, 1), (2, 4))}[
            output_stride
        ]
        self.layer1 = self._layer(block, 64, counts[0], stride=first_stride)
        self.layer2 = self._layer(block, 128, counts[1], stride=2)
        self.layer3 = self._layer(block, 256, counts[2], strides[0], dilations[0])
        self.layer4 = self._layer(block, 512, counts[3], strides[1], dilations[1])
        self.channels = [64 * block.expansion * m for m in (1, 2, 4, 8)]

    def _layer(self, block, planes: int, n: int, stride: int = 1, dilation: int = 1):
        downsample = None
        if stride != 1 or self.cin != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.cin, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        first_dilation = max(1, dilation // 2)  # as in the DeepLab/PSPNet dilated ResNets
        layers = [block(self.cin, planes, stride, first_dilation, downsample)]
        self.cin = planes * block.expansion
        layers += [block(self.cin, planes, 1, dilation) for _ in range(1, n)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.pool(self.stem(x))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return c1, c2, c3, c4
