from pathlib import Path

import pytest
import torch

from landslide4sense.errors import ConfigError
from landslide4sense.training.models import MODELS, get_model, parameter_count
from landslide4sense.training.models.blocks import bilinear
from landslide4sense.training.models.deviations import deviation_table

PAPER_NAMES = [
    "PSPNet",
    "ContextNet",
    "DeepLab-v2",
    "DeepLab-v3+",
    "FCN-8s",
    "LinkNet",
    "FRRN-A",
    "FRRN-B",
    "SQNet",
    "U-Net",
    "ResU-Net",
]


def test_registry_has_the_papers_eleven_in_table_order():
    assert list(MODELS) == PAPER_NAMES


@pytest.mark.parametrize("name", PAPER_NAMES)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = get_model(name)
    x = torch.randn(2, 14, 128, 128)
    y = torch.randint(0, 2, (2, 128, 128))
    out = model(x)
    assert out.shape == (2, 2, 128, 128)
    loss = torch.nn.functional.cross_entropy(out, y)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert parameter_count(model) > 500_000


def test_other_channel_counts_and_unknown_names():
    assert get_model("U-Net", in_channels=3, num_classes=5)(torch.randn(1, 3, 64, 64)).shape == (
        1,
        5,
        64,
        64,
    )
    with pytest.raises(ConfigError, match="choose from: PSPNet, ContextNet"):
        get_model("SegFormer")


def test_fcn_upsamplings_start_bilinear_and_the_last_stays_fixed():
    model = get_model("FCN-8s", in_channels=3)
    x = torch.rand(1, 2, 8, 8)
    for layer, factor in ((model.up2, 2), (model.up2_pool4, 2), (model.up8, 8)):
        ours = layer(x)
        bilinear = torch.nn.functional.interpolate(x, scale_factor=factor, mode="bilinear")
        inner = (..., slice(factor, -factor), slice(factor, -factor))  # away from the border
        assert torch.allclose(ours[inner], bilinear[inner], atol=1e-6)
    assert model.up2.weight.requires_grad and model.up2_pool4.weight.requires_grad
    assert not model.up8.weight.requires_grad


def test_deeplab_v3_plus_image_pooling_has_batch_norm():
    pool = get_model("DeepLab-v3+").aspp.image_pool
    assert [type(m).__name__ for m in pool.modules()][1:] == [
        "AdaptiveAvgPool2d",
        "Sequential",
        "Conv2d",
        "BatchNorm2d",
        "ReLU",
    ]


def test_every_model_has_its_deviations_listed():
    table = deviation_table({name: 1_000_000 for name in MODELS})
    rows = table.splitlines()[2:]
    assert [r.split(" | ")[0].lstrip("| ") for r in rows] == PAPER_NAMES
    assert all(r.count(" | ") == 7 for r in rows)  # eight cells, none missing


def test_the_readme_shows_the_deviation_table_of_the_code():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    counts = {name: parameter_count(get_model(name)) for name in MODELS}
    assert deviation_table(counts) in readme


@pytest.mark.parametrize(
    ("shape", "resize"),
    [
        ((2, 3, 8, 8), {"scale_factor": 2}),
        ((1, 2, 13, 10), {"scale_factor": 0.25}),
        ((1, 2, 5, 7), {"size": (16, 9)}),
    ],
)
def test_deterministic_bilinear_matches_interpolate(shape, resize):
    """The matrix form (deterministic on CUDA) gives F.interpolate's values and gradients."""
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = bilinear(a, **resize, matrices=False), bilinear(b, **resize, matrices=True)
    weights = torch.arange(ya.numel(), dtype=torch.float64).reshape(ya.shape)
    (ya * weights).sum().backward()
    (yb * weights).sum().backward()
    assert torch.allclose(ya, yb, atol=1e-12) and torch.allclose(a.grad, b.grad, atol=1e-9)
