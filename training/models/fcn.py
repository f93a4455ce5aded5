"""FCN-8s (Long, Shelhamer & Darrell 2015) on VGG-16."""

from __future__ import annotations

from torch import nn

from landslide4sense.training.models.blocks import BilinearUp, upsample_to

VGG16 = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class FCN8s(nn.Module):
    """FCN-8s: the VGG-16 convolutions (five blocks, each closed by a 2 x 2 max-pool), fc6/fc7
    as 7 x 7 and 1 x 1 convolutions (4096 channels, dropout 0.5), class scores fused with
    1 x 1 scores of pool4 and pool3 after 2x upsamplings, then an 8x upsampling. As in the
    paper, the upsamplings are transposed convolutions initialised to bilinear interpolation;
    the two 2x ones are then learned, the final 8x one stays fixed. "Same" padding replaces
    the paper's 100-pixel input padding and crops."""

    def __init__(self, in_channels: int = 14, num_classes: int = 2):
        super().__init__()
        blocks, cin = [], in_channels
        for widths in VGG16:
            layers = []
            for w in widths:
                layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU(True)]
                cin = w
            blocks.append(nn.Sequential(*layers, nn.MaxPool2d(2, ceil_mode=True)))
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Sequential(
            nn.Conv2d(512, 4096, 7, padding=3),
            nn.ReLU(True),
            nn.Dropout2d(0.5),
            nn.Conv2d(4096, 4096, 1),
            nn.ReLU(True),
            nn.Dropout2d(0.5),
            nn.Conv2d(4096, num_classes, 1),
        )
        self.score_pool4 = nn.Conv2d(512, num_classes, 1)
        self.score_pool3 = nn.Conv2d(256, num_classes, 1)
        self.up2 = BilinearUp(num_classes, 2)
        self.up2_pool4 = BilinearUp(num_classes, 2)
        self.up8 = BilinearUp(num_classes, 8, learned=False)

    def forward(self, x):
        feats = []
        h = x
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        pool3, pool4, pool5 = feats[2], feats[3], feats[4]
        score = self.up2(self.fc(pool5))
        score = self.up2_pool4(score + self.score_pool4(pool4))
        score = self.up8(score + self.score_pool3(pool3))
        return upsample_to(score, x) if score.shape[-2:] != x.shape[-2:] else score
