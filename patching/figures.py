"""Figures of a benchmark after the paper's Figs. 6-8: samples, band means, landslide share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no global backend or figure registry

from landslide4sense.patching.hdf5 import read_image, read_mask
from landslide4sense.records import Summary

RGB = (3, 2, 1)  # B4, B3, B2 in the stack
SLOPE, DEM = 12, 13


def _stretch(a: np.ndarray) -> np.ndarray:
    """Linear 2-98% stretch, one range for all channels (keeps the colours' balance)."""
    lo, hi = np.percentile(a, [2, 98])
    return np.clip((a - lo) / (hi - lo + 1e-9), 0, 1)


def plot_samples(path: Path, samples: list[tuple[Path, Path, str]], divisors: np.ndarray) -> None:
    """Rows of RGB, slope, DEM and mask for a few patches (like the paper's Fig. 6)."""
    if not samples:
        return
    fig = Figure(figsize=(9, 2.3 * len(samples)))
    axes = fig.subplots(len(samples), 4, squeeze=False)
    for ax_row, (img_path, mask_path, title) in zip(axes, samples, strict=True):
        img = read_image(img_path) * divisors  # back to source units
        mask = read_mask(mask_path)
        rgb = _stretch(img[..., list(RGB)])
        panels = [
            (rgb, None, "RGB (B4 B3 B2)"),
            (img[..., SLOPE], "magma", "slope (deg)"),
            (img[..., DEM], "terrain", "DEM (m)"),
            (mask, "Reds", "label"),
        ]
        for ax, (data, cmap, name) in zip(ax_row, panels, strict=True):
            im = ax.imshow(data, cmap=cmap, interpolation="nearest")
            if cmap not in (None, "Reds"):
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name, fontsize=8)
        ax_row[0].set_ylabel(title, fontsize=8)
    fig.suptitle("Sample patches (most landslide pixels per region)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_band_means(path: Path, groups: list[Summary], bands: list[str], scaling: str) -> None:
    """Per-band mean of landslide vs non-landslide pixels, per region and split (Fig. 7)."""
    fig = Figure(figsize=(10, 2.6 * len(groups)))
    axes = fig.subplots(len(groups), 1, squeeze=False)
    x = np.arange(len(bands))
    for ax, group in zip(axes[:, 0], groups, strict=True):
        series = [
            (group.train.landslide, "landslide (train)", "tab:blue"),
            (group.test.landslide, "landslide (test)", "tab:green"),
            (group.train.background, "background (train)", "tab:red"),
            (group.test.background, "background (test)", "pink"),
        ]
        for k, (values, label, color) in enumerate(series):
            if values is not None:
                ax.bar(x + (k - 1.5) * 0.2, values, 0.2, color=color, label=label)
        ax.set_xticks(x, [b.replace("B0", "B") for b in bands], fontsize=8)
        ax.set_title(group.name, fontsize=9)
        ax.set_ylabel(f"mean ({scaling})", fontsize=8)
    axes[0, 0].legend(fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_landslide_share(path: Path, groups: list[Summary]) -> None:
    """Share of landslide pixels per region, training and test sets (Fig. 8)."""
    fig = Figure(figsize=(9, 3.2))
    axes = fig.subplots(1, 2, sharey=True)
    names = [g.name for g in groups]
    shares = {
        "train": [100 * g.train.landslide_share for g in groups],
        "test": [100 * g.test.landslide_share for g in groups],
    }
    for ax, (split, share) in zip(axes, shares.items(), strict=True):
        ax.bar(names, share, color="tab:red")
        for i, s in enumerate(share):
            ax.text(i, s, f"{s:.2f}%", ha="center", va="bottom", fontsize=8)
        ax.set_title(f"{split} set")
        ax.tick_params(axis="x", rotation=30, labelsize=8)
    axes[0].set_ylabel("landslide pixels (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
