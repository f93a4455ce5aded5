"""Figures of a benchmark after the paper's Figs. 6-8: samples, band values, landslide share.

Colours come from the Okabe-Ito palette (safe for the common colour-vision deficiencies):
landslides are warm (vermillion, orange), everything else cool (blue, sky blue); a split is
told apart by shade and hatching, never by colour alone. Each figure is written as PNG at
150 dpi and as SVG beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.artist import setp
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure  # no pyplot: no global backend or figure registry
from matplotlib.patches import Patch

from landslide4sense.geo.stack import L4S_SCALE
from landslide4sense.patching.hdf5 import read_image, read_mask

RGB = (3, 2, 1)  # B4, B3, B2 in the stack
SLOPE, DEM = 12, 13
DPI = 150
#: Okabe-Ito: (landslide, other) per split; the train shade is the darker one.
COLOURS = {
    "train": ("#D55E00", "#0072B2"),  # vermillion, blue
    "val": ("#CC79A7", "#009E73"),  # reddish purple, bluish green
    "test": ("#E69F00", "#56B4E9"),  # orange, sky blue
}
HATCH = {"train": "", "val": "xx", "test": "//"}
OUTLINE = "#F0E442"  # Okabe-Ito yellow: label outlines on the RGB
MASK_CMAP = ListedColormap(["#E8EEF4", COLOURS["train"][0]])  # pale cool grey, vermillion
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}


def _save(fig, path: Path) -> None:
    """``path`` as PNG (150 dpi) and the same name as SVG."""
    fig.savefig(path.with_suffix(".png"), dpi=DPI)
    fig.savefig(path.with_suffix(".svg"))


def _stretch(a: np.ndarray) -> np.ndarray:
    """Linear 2-98% stretch, one range for all channels (keeps the colours' balance)."""
    lo, hi = np.percentile(a, [2, 98])
    return np.clip((a - lo) / (hi - lo + 1e-9), 0, 1)


def plot_samples(path: Path, samples: list[tuple[Path, Path, str]], divisors: np.ndarray) -> None:
    """Rows of RGB (label outlined), slope, DEM and label for patches (like the paper's
    Fig. 6); one row per sample, so every region given a sample appears."""
    if not samples:
        return
    fig = Figure(figsize=(10, 2.5 * len(samples)))
    axes = fig.subplots(len(samples), 4, squeeze=False)
    for ax_row, (img_path, mask_path, title) in zip(axes, samples, strict=True):
        img = read_image(img_path) * divisors  # back to source units
        mask = read_mask(mask_path)
        ax_row[0].imshow(_stretch(img[..., list(RGB)]), interpolation="nearest")
        if mask.any():
            ax_row[0].contour(mask, levels=[0.5], colors=OUTLINE, linewidths=0.9)
        terrain = (
            (ax_row[1], SLOPE, "magma", "slope (degrees)"),
            (ax_row[2], DEM, "cividis", "elevation (metres)"),
        )
        for ax, band, cmap, label in terrain:
            im = ax.imshow(img[..., band], cmap=cmap, interpolation="nearest")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).set_label(label, fontsize=7)
        ax_row[3].imshow(mask, cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
        for ax, name in zip(
            ax_row,
            ("true colour (B4 B3 B2), label outlined", "slope", "elevation (DEM)", "label"),
            strict=True,
        ):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name, fontsize=8)
        ax_row[0].set_ylabel(title, fontsize=8)
    handles = [
        Patch(facecolor=MASK_CMAP(1), label="landslide"),
        Patch(facecolor=MASK_CMAP(0), edgecolor="0.6", label="other"),
        Patch(facecolor="none", edgecolor=OUTLINE, label="label outline"),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=3,
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )
    fig.suptitle(
        "Sample patches: the two with the most landslide pixels per region (128 x 128 px, 10 m)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    _save(fig, path)


def plot_band_values(
    path: Path,
    groups: list[tuple[str, dict[str, dict[str, np.ndarray]]]],
    bands: Sequence[str],
    divisors: np.ndarray,
) -> None:
    """:func:`band_values_figure` saved as ``path`` (PNG, with an SVG beside it)."""
    _save(band_values_figure(groups, bands, divisors), path)


def band_values_figure(
    groups: list[tuple[str, dict[str, dict[str, np.ndarray]]]],
    bands: Sequence[str],
    divisors: np.ndarray,
) -> Figure:
    """Per band, the spread over patches of the mean of landslide and of other pixels, per
    region and split (the paper's Fig. 7 with its spread): boxes span the quartiles,
    whiskers the 5th to 95th percentiles, the line is the median.

    Args:
        groups: (title, {split: :func:`.assemble.patch_means`}) per panel.
        bands: band names.
        divisors: what the patches were divided by (values are shown relative to the
            original release's constants, whatever the scaling, so bands compare).
    """
    relative = np.asarray(divisors, np.float64) / L4S_SCALE
    # constrained layout makes room for the legend below the panels, whatever its rows
    fig = Figure(figsize=(11, 2.8 * len(groups) + 0.6), layout="constrained")
    axes = fig.subplots(len(groups), 1, squeeze=False)
    x = np.arange(len(bands))
    for ax, (title, splits) in zip(axes[:, 0], groups, strict=True):
        series = [(s, cls) for cls in ("landslide", "other") for s in splits]
        width = 0.8 / len(series)
        for k, (split, cls) in enumerate(series):
            values = splits[split][cls] * relative
            if not len(values):
                continue
            colour = COLOURS[split][0 if cls == "landslide" else 1]
            box = ax.boxplot(
                values,
                positions=x + (k - (len(series) - 1) / 2) * width,
                widths=width * 0.85,
                whis=(5, 95),
                showfliers=False,
                patch_artist=True,
                manage_ticks=False,
            )
            for patch in box["boxes"]:
                patch.set(facecolor=colour, edgecolor="0.15", linewidth=0.5, hatch=HATCH[split])
            for part in ("whiskers", "caps", "medians"):
                setp(box[part], color="0.15", linewidth=0.6)
        ax.set_xticks(x, [b.replace("B0", "B") for b in bands], fontsize=8)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel("value / original\nrelease's constant", fontsize=8)
        ax.grid(axis="y", linewidth=0.3, alpha=0.5)
    splits_seen = list(dict.fromkeys(s for _, g in groups for s in g))
    handles = [  # a column per split (filled top to bottom): landslide above other
        Patch(
            facecolor=COLOURS[s][i],
            hatch=HATCH[s],
            edgecolor="0.15",
            label=f"{cls} pixels, {SPLIT_NAMES[s]} split",
        )
        for s in splits_seen
        for i, cls in enumerate(("landslide", "other"))
    ]
    legend = fig.legend(
        handles=handles, loc="outside lower center", ncol=len(splits_seen), fontsize=8
    )
    legend.set_frame_on(False)
    fig.suptitle(
        "Band values of landslide and other pixels: per-patch means (box: quartiles, "
        "whiskers: 5-95 %)",
        fontsize=10,
    )
    return fig


def plot_landslide_share(path: Path, regions: list[dict], splits: Sequence[str]) -> None:
    """Share of landslide pixels per region and split (the paper's Fig. 8), side by side."""
    fig = Figure(figsize=(max(5.5, 1.6 * len(regions) + 2), 3.4))
    ax = fig.subplots()
    x = np.arange(len(regions))
    width = 0.8 / len(splits)
    for k, split in enumerate(splits):
        share = [100 * r[split]["landslide_share"] for r in regions]
        bars = ax.bar(
            x + (k - (len(splits) - 1) / 2) * width,
            share,
            width * 0.95,
            color=COLOURS[split][0],
            hatch=HATCH[split],
            edgecolor="0.15",
            linewidth=0.5,
            label=f"{SPLIT_NAMES[split]} split",
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(x, [r["name"] for r in regions], fontsize=8)
    ax.set_ylabel("landslide pixels (% of the\nsplit's pixels in the region)", fontsize=8)
    ax.set_title("Share of landslide pixels per region and split", fontsize=10)
    ax.margins(y=0.15)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    _save(fig, path)


def draw_figures(
    folder: Path,
    samples: list[tuple[Path, Path, str]],
    groups: list[tuple[str, dict[str, dict[str, np.ndarray]]]],
    bands: Sequence[str],
    divisors: np.ndarray,
    shares: list[dict],
    splits: Sequence[str],
) -> None:
    """A benchmark's three figures into ``folder``: sample patches, band values (``groups``
    of :func:`.assemble.patch_means` per split) and landslide share per region (``shares``)."""
    folder.mkdir(exist_ok=True)  # not its parent: a version given up on stays gone
    plot_samples(folder / "sample_patches.png", samples, divisors)
    plot_band_values(folder / "band_values.png", groups, bands, divisors)
    plot_landslide_share(folder / "landslide_share.png", shares, splits)
