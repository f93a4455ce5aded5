"""Where each baseline departs from its own paper, in one table (README and training report).

Common to all eleven (the Landslide4Sense protocol): trained from scratch on 14 bands and two
classes, plain cross-entropy, Adam, batch norm where the model has it. The model papers mostly
start from ImageNet weights, on RGB, with their datasets' class counts; parameter counts of the
papers are for those settings. :func:`protocol_table` lists how the training protocol itself
departs from the Landslide4Sense paper's and from its original code.
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
        "single-scale input (multi-scale inputs, max-fused); at 128 px the 16 x 16 map makes "
        "the rates 12-24 read mostly padding",
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
        "final 8x fixed (same); at 128 px fc6's 7 x 7 kernel sees a 4 x 4 map",
        "134 M",
    ),
    "LinkNet": Deviation(
        "ResNet-18 (same)",
        "64: a 2 x 2 map at 128 px (same: its stem and every encoder block halve the size)",
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
        "not stated; the Landslide4Sense baseline code's U-Net has 17.3 M",
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


#: How our protocol departs from the paper's (and from the original Landslide4Sense code):
#: (setting, ours, the paper, the original code).
PROTOCOL_DEVIATIONS = (
    (
        "training patches",
        "every TrainData patch (the first quarter of each area)",
        "the first quarter",
        "every patch of its training list",
    ),
    (
        "checkpoint",
        "best validation F1 on ValidData when the layout has it (every 500 iterations), else "
        "the last iteration's; Table I says which",
        "after 5000 iterations (no selection stated)",
        "best F1 on its training list",
    ),
    (
        "hold-out",
        "none by default; load_benchmark(val_fraction=) holds out a strip of each region",
        "none",
        "none",
    ),
    ("weight decay", "5e-4", "not stated", "5e-4"),
    (
        "precision",
        "bf16 autocast, channels-last on CUDA; float32 on the CPU",
        "float32 (not stated)",
        "float32",
    ),
    (
        "seeds",
        "--seeds N (3 for a Table I run): mean and standard deviation over seeds",
        "one run",
        "one run",
    ),
    ("optimiser", "Adam, lr 1e-3, batch 32, 5000 iterations (fused Adam on CUDA)", "same", "same"),
)


def protocol_table() -> str:
    """The markdown table of :data:`PROTOCOL_DEVIATIONS`."""
    lines = ["| setting | ours | the paper | the original code |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in PROTOCOL_DEVIATIONS]
    return "\n".join(lines) + "\n"
