"""Where each baseline departs from its own paper, in one table (README and training report).

Common to all eleven (the Landslide4Sense protocol): trained from scratch on 14 bands and two
classes, plain cross-entropy, Adam, batch norm where the model has it. The model papers mostly
start from ImageNet weights, on RGB, with their datasets' class counts; parameter counts of the
papers are for those settings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Deviation:
    """One model's differences from its paper (each field: ours, then the paper's)."""

    backbone: str
    output_stride: str
    auxiliary_loss: str
    crf: str
    other: str
    paper_parameters: str  # as the model's paper reports it, or "not stated"


NONE = "none (none)"
DEVIATIONS: dict[str, Deviation] = {
    "PSPNet": Deviation(
        "dilated ResNet-50, deep stem (ResNet-50 in its ablations; its best results use "
        "deeper ResNets)",
        "8 (8)",
        "none (0.4-weighted loss on layer 3)",
        NONE,
        "one loss for every baseline",
        "not stated",
    ),
    "ContextNet": Deviation(
        "ContextNet-14: deep branch on the input at 1/4 (same)",
        "32 deep, 8 shallow (same)",
        NONE,
        NONE,
        "-",
        "0.85 M",
    ),
    "DeepLab-v2": Deviation(
        "dilated ResNet-101 (same)",
        "8 (8)",
        NONE,
        "none (fully connected CRF after the network)",
        "single-scale input (multi-scale inputs, max-fused)",
        "not stated",
    ),
    "DeepLab-v3+": Deviation(
        "ResNet-101 (best: aligned Xception-65; ResNet-101 also reported)",
        "16 (16 in training, 8 at evaluation)",
        NONE,
        NONE,
        "separable ASPP and decoder as in its Xception variant; image pooling with batch norm "
        "(same)",
        "not stated",
    ),
    "FCN-8s": Deviation(
        "VGG-16 (same)",
        "32, skips at 16 and 8 (same)",
        NONE,
        NONE,
        "'same' padding (100-pixel input padding, crops); upsampling initialised bilinear, "
        "final 8x fixed (same)",
        "134 M",
    ),
    "LinkNet": Deviation(
        "ResNet-18 (same)",
        "32 (same)",
        NONE,
        NONE,
        "-",
        "11.5 M",
    ),
    "FRRN-A": Deviation(
        "its own two streams (same)",
        "16 (same)",
        NONE,
        NONE,
        "plain cross-entropy (bootstrapped cross-entropy)",
        "17.7 M",
    ),
    "FRRN-B": Deviation(
        "its own two streams (same)",
        "32 (same)",
        NONE,
        NONE,
        "plain cross-entropy (bootstrapped cross-entropy)",
        "24.8 M",
    ),
    "SQNet": Deviation(
        "SqueezeNet 1.1 fire layout (fire modules of 48 and 64 squeeze channels at 1/16; a "
        "widely copied public port uses three of 64)",
        "16 (16)",
        NONE,
        NONE,
        "parallel dilations 1, 2, 4, 8, one ELU after the sum (the public port: 1, 2, 3, 4, "
        "an ELU per branch)",
        "not stated",
    ),
    "U-Net": Deviation(
        "its own (same)",
        "16 (16)",
        NONE,
        NONE,
        "'same' padding (valid padding, output cropped); batch norm after each convolution (none)",
        "not stated",
    ),
    "ResU-Net": Deviation(
        "its own residual units (same)",
        "8 (8)",
        NONE,
        NONE,
        "-",
        "7.8 M",
    ),
}

COLUMNS = (
    "model",
    "backbone",
    "output stride",
    "auxiliary loss",
    "CRF",
    "other differences",
    "parameters (ours)",
    "parameters (paper)",
)


def deviation_table(parameters: dict[str, int]) -> str:
    """The markdown table of :data:`DEVIATIONS`, each cell "ours (the model paper's)".

    Args:
        parameters: our parameter count of each model to list (Table I's order).
    """
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name, count in parameters.items():
        d = DEVIATIONS[name]
        cells = (
            name,
            d.backbone,
            d.output_stride,
            d.auxiliary_loss,
            d.crf,
            d.other,
            f"{count / 1e6:.1f} M",
            d.paper_parameters,
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
