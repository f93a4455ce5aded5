import pytest
import torch

from landslide4sense.errors import ConfigError
from landslide4sense.training.models import MODELS, get_model, parameter_count

PAPER_NAMES = ["PSPNet", "ContextNet", "DeepLab-v2", "DeepLab-v3+", "FCN-8s", "LinkNet",
               "FRRN-A", "FRRN-B", "SQNet", "U-Net", "ResU-Net"]  # fmt: skip


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
        1, 5, 64, 64)  # fmt: skip
    with pytest.raises(ConfigError, match="choose from: PSPNet, ContextNet"):
        get_model("SegFormer")
