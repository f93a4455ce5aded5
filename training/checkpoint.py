"""Checkpoints: the weights, and everything needed to apply them to new data.

``best.pt`` holds the weights and a :class:`CheckpointInfo` (model name and arguments, band
order, scaling, standardisation mean/std, dataset and code versions). ``last.pt`` holds the
same plus what resuming needs (optimizer, history, the RNG states of torch, CUDA, numpy and
Python). Files hold only tensors and plain values and are always loaded with
``torch.load(weights_only=True)`` onto the CPU first: a checkpoint is data, never code, and a
state saved on a GPU loads on any device.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from landslide4sense.choices import Scaling
from landslide4sense.errors import InputDataError, MissingInputError
from landslide4sense.files import atomic_path
from landslide4sense.layout import STACK_BANDS

FORMAT = 1


class CheckpointInfo(BaseModel):
    """What a checkpoint says about itself: enough to rebuild the model and feed it right."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = FORMAT
    model: str
    model_args: dict[str, int]
    bands: list[str]
    scaling: Scaling
    mean: list[float]
    std: list[float]
    dataset_version: str
    code_version: str
    iteration: int
    val_f1: float
    config: dict[str, Any]


def save(path: Path, info: CheckpointInfo, weights: dict, **extra: Any) -> None:
    """Write a checkpoint atomically: ``info``, ``weights`` and any resume state in ``extra``."""
    with atomic_path(path) as tmp:
        torch.save({"info": info.model_dump(mode="json"), "weights": weights, **extra}, tmp)


def load(path: str | Path, mmap: bool = False) -> dict:
    """A checkpoint's content, on the CPU, with its ``info`` validated; ``mmap`` maps the
    tensors instead of reading them (a quick check of a large file).

    Raises:
        MissingInputError: no such file.
        InputDataError: not a checkpoint of ours (or one holding anything but data).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: no such checkpoint (best.pt of a training run)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        state["info"] = CheckpointInfo(**state["info"])
    except (KeyError, TypeError, ValidationError) as err:
        raise InputDataError(
            f"{path}: not a landslide4sense checkpoint of format {FORMAT} ({err}); train the "
            "model again with `l4s train`"
        ) from err
    except Exception as err:  # torch's unpickler refuses code and corrupt files alike
        raise InputDataError(
            f"{path}: cannot be read as a checkpoint ({type(err).__name__}: {err}); only "
            "checkpoints written by `l4s train` are loaded, as data"
        ) from err
    return state


def read_info(path: str | Path) -> CheckpointInfo:
    """What a checkpoint says about itself, without reading its weights (see :func:`load`)."""
    return load(path, mmap=True)["info"]


def check_checkpoint(path: str | Path) -> CheckpointInfo:
    """A checkpoint that can be applied to our 14-band stacks: its bands are ours and its
    weights fit the model its info names (names and shapes; the tensors are mapped, not read).

    Raises:
        MissingInputError, InputDataError: see :func:`load`; or the bands or weights differ,
            naming the fix.
    """
    from landslide4sense.training.models import MODELS, get_model

    state = load(path, mmap=True)
    info: CheckpointInfo = state["info"]
    if info.bands != list(STACK_BANDS):
        raise InputDataError(
            f"{path}: trained on {len(info.bands)} bands {info.bands}, not the "
            f"{len(STACK_BANDS)} of a landslide4sense stack ({', '.join(STACK_BANDS)}); "
            "retrain it on a benchmark of this tool (`l4s train --dataset OUT`)"
        )
    if info.model not in MODELS:
        raise InputDataError(f"{path}: names model {info.model!r}, not one of {', '.join(MODELS)}")
    try:
        expected = get_model(info.model, **info.model_args).state_dict()
    except (TypeError, ValueError) as err:
        raise InputDataError(f"{path}: model arguments {info.model_args} do not fit") from err
    weights = state.get("weights")
    shapes = {k: tuple(v.shape) for k, v in (weights or {}).items() if hasattr(v, "shape")}
    if not isinstance(weights, dict) or shapes != {k: tuple(v.shape) for k, v in expected.items()}:
        raise InputDataError(
            f"{path}: its weights do not match the {info.model} its info describes (a file "
            "edited or put together by hand); use the best.pt that `l4s train` wrote"
        )
    return info


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """The model of a checkpoint, with its weights, in eval mode, and its info.

    Returns:
        (model, :class:`CheckpointInfo`).
    """
    from landslide4sense.training.models import get_model

    state = load(path)
    info: CheckpointInfo = state["info"]
    model = get_model(info.model, **info.model_args)
    model.load_state_dict(state["weights"])
    return model.to(device).eval(), info


def rng_state(cuda: bool) -> dict:
    """The generators' states: torch (CPU), CUDA (every device), numpy's global one, Python's."""
    np_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if cuda else [],
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "python": random.getstate(),
    }


def set_rng_state(state: dict, cuda: bool) -> None:
    """Restore :func:`rng_state`. The states must be on the CPU (as :func:`load` gives them);
    a CUDA state saved by a CPU run is left as seeded."""
    torch.set_rng_state(state["torch"])
    if cuda:  # device by device: a run saved on more GPUs than this host has keeps what fits
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    random.setstate(state["python"])
