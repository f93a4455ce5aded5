"""The eleven baselines of the paper's Table I, in plain PyTorch, trained from scratch.

Every model takes ``(in_channels, num_classes)`` and maps (N, in_channels, H, W) to
(N, num_classes, H, W). :data:`MODELS` is keyed by the paper's names; :func:`get_model`
builds one by name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from landslide4sense.errors import ConfigError
from landslide4sense.training.models.blocks import init_weights
from landslide4sense.training.models.contextnet import ContextNet
from landslide4sense.training.models.deeplab import DeepLabV2, DeepLabV3Plus
from landslide4sense.training.models.fcn import FCN8s
from landslide4sense.training.models.frrn import FRRN
from landslide4sense.training.models.linknet import LinkNet
from landslide4sense.training.models.pspnet import PSPNet
from landslide4sense.training.models.sqnet import SQNet
from landslide4sense.training.models.unet import ResUNet, UNet

#: Table I's order.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "PSPNet": PSPNet,
    "ContextNet": ContextNet,
    "DeepLab-v2": DeepLabV2,
    "DeepLab-v3+": DeepLabV3Plus,
    "FCN-8s": FCN8s,
    "LinkNet": LinkNet,
    "FRRN-A": partial(FRRN, variant="A"),
    "FRRN-B": partial(FRRN, variant="B"),
    "SQNet": SQNet,
    "U-Net": UNet,
    "ResU-Net": ResUNet,
}


def get_model(name: str, in_channels: int = 14, num_classes: int = 2) -> nn.Module:
    """Build the model called ``name`` (a key of :data:`MODELS`), freshly initialised.

    Raises:
        ConfigError: unknown name (the message lists the valid ones).
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose from: {', '.join(MODELS)}")
    return init_weights(MODELS[name](in_channels=in_channels, num_classes=num_classes))


def model_names(models: str | list[str]) -> list[str]:
    """``all``, a comma-separated string or a list of names, checked against the registry.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones).
    """
    names = list(MODELS) if models in ("all", ["all"]) else models
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ConfigError(
            f"unknown model(s) {', '.join(unknown)}; choose from: {', '.join(MODELS)}"
        )
    return names


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "get_model", "model_names", "parameter_count"]
