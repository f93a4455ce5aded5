"""Assembling regions into the benchmark: split, global numbering, manifest, card, figures.

Each region's kept tiles, in row-major order, are split by the paper's rule (the first quarter
trains, the rest tests), then numbered from 1 per split across regions in the given order, so
that appending a region never renumbers the patches already published. The benchmark is built
in a staging folder and published by renaming; ``dataset.json`` is removed first and written
last, so a folder with a ``dataset.json`` is always a complete benchmark.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import math
import os
import shutil
import uuid
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from landslide4sense.choices import OutputLayout
from landslide4sense.files import read_json, write_json, write_text
from landslide4sense.layout import CROISSANT_JSON, INDEX_PARQUET, STAC_DIR
from landslide4sense.patching.card import licence_url, patches_licence, render_card
from landslide4sense.patching.croissant import croissant
from landslide4sense.patching.figures import (
    patch_means,
    plot_band_values,
    plot_landslide_share,
    plot_samples,
)
from landslide4sense.patching.index import (
    patch_index,
    split_overlaps,
    stac_collection,
    write_patch_index,
    write_stac,
)
from landslide4sense.patching.region import RegionJob, RegionTiles, collect_tiles
from landslide4sense.patching.stack import BAND_UNITS, L4S_SCALE, STACK_BANDS
from landslide4sense.provenance import environment
from landslide4sense.regions import PATCH_SIZE
from landslide4sense.regions.schema import DEFAULT_LICENCE

log = logging.getLogger(__name__)

SPLITS = {"train": "TrainData", "val": "ValidData", "test": "TestData"}
#: The share of each region's training tiles held out as ValidData (the with-valid layout):
#: training's own held-out validation subset.
VAL_FRACTION = 0.1
MANIFEST_FIELDS = [
    "id",
    "split",
    "index",
    "image",
    "mask",
    "region",
    "tile_row",
    "tile_col",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
    "crs",
    "landslide_fraction",
    "scene_ids",
    "scene_dates",
    "source",
    "sha256",
    "version",
]
PUBLISHED = ("TrainData", "ValidData", "TestData", "manifest.csv", INDEX_PARQUET, STAC_DIR,
             CROISSANT_JSON, "card.md", "figures", "regions")  # fmt: skip


def code_version() -> str:
    try:
        return version("landslide4sense")
    except PackageNotFoundError:
        return "unknown"


def split_count(n: int, train_fraction: float = 0.25) -> int:
    """How many of a region's ``n`` tiles train: the first quarter, rounded up."""
    return math.ceil(n * train_fraction)


def layout_splits(layout: OutputLayout) -> list[str]:
    """The splits of a layout, in order."""
    if OutputLayout(layout) is OutputLayout.WITH_VALID:
        return ["train", "val", "test"]
    return ["train", "test"]


def region_splits(n: int, layout: OutputLayout, train_fraction: float = 0.25) -> list[str]:
    """The split of each of a region's ``n`` tiles (row-major order).

    The first quarter (rounded up) trains and the rest tests (the paper's rule). With the
    with-valid layout, the last tenth (rounded up) of the training tiles is held out as
    validation, keeping at least one tile to train (training's own held-out rule).
    """
    n_train = split_count(n, train_fraction)
    n_val = 0
    if OutputLayout(layout) is OutputLayout.WITH_VALID:
        n_val = min(math.ceil(n_train * VAL_FRACTION), n_train - 1)
    return ["train"] * (n_train - n_val) + ["val"] * n_val + ["test"] * (n - n_train)


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not supported
        shutil.copyfile(src, dst)


def _band_stats(tiles: list[dict]) -> tuple[list[float], list[float]]:
    n = len(tiles) * PATCH_SIZE * PATCH_SIZE
    s = np.sum([t["sum"] for t in tiles], axis=0)
    sq = np.sum([t["sumsq"] for t in tiles], axis=0)
    mean = s / n
    std = np.sqrt(np.maximum(sq / n - mean**2, 0.0))
    return mean.tolist(), std.tolist()


def _summary(tiles: list[dict]) -> dict:
    """Patch count, landslide share and per-band means of landslide / other pixels of tiles."""
    n_px = len(tiles) * PATCH_SIZE * PATCH_SIZE
    n_ls = sum(t["landslide_px"] for t in tiles)
    n_bg = n_px - n_ls
    s = np.sum([t["sum"] for t in tiles], axis=0) if tiles else None
    s_ls = np.sum([t["sum_ls"] for t in tiles], axis=0) if tiles else None
    return {
        "patches": len(tiles),
        "landslide_share": n_ls / n_px if n_px else 0.0,
        "landslide": (s_ls / n_ls).tolist() if n_ls else None,
        "background": ((s - s_ls) / n_bg).tolist() if n_bg else None,
    }


def assemble(
    out: str | Path,
    jobs: list[RegionJob],
    scaling: str,
    train_fraction: float = 0.25,
    figures: bool = True,
    layout: OutputLayout = OutputLayout.RELEASE,
) -> dict:
    """Publish the benchmark of ``jobs`` (in this order) into ``out``; return ``dataset.json``.

    Raises:
        EmptyResultError: a region has no valid tile.
    """
    out = Path(out)
    regions: list[RegionTiles] = [collect_tiles(job) for job in jobs]
    previous = read_json(out / "dataset.json") if (out / "dataset.json").exists() else None
    stage = out / f".staging-{uuid.uuid4().hex[:8]}"
    splits = layout_splits(layout)
    for split in splits:
        for kind in ("img", "mask"):
            (stage / SPLITS[split] / kind).mkdir(parents=True, exist_ok=True)

    counters = dict.fromkeys(splits, 0)
    rows: list[dict] = []
    per_split: dict[tuple[str, str], list[dict]] = {}
    for reg in regions:
        prov = reg.job.provenance
        scenes = prov.get("scenes", [])
        for split, tile in zip(region_splits(len(reg.tiles), layout, train_fraction), reg.tiles,
                               strict=True):  # fmt: skip
            counters[split] += 1
            n = counters[split]
            img_src, mask_src = reg.job.patch_paths(tile["row"], tile["col"])
            img_rel = f"{SPLITS[split]}/img/image_{n}.h5"
            mask_rel = f"{SPLITS[split]}/mask/mask_{n}.h5"
            _link(img_src, stage / img_rel)
            _link(mask_src, stage / mask_rel)
            per_split.setdefault((reg.name, split), []).append(tile)
            rows.append(
                {
                    "id": f"{split}_{n}",
                    "split": split,
                    "index": n,
                    "image": img_rel,
                    "mask": mask_rel,
                    "region": reg.name,
                    "tile_row": tile["row"],
                    "tile_col": tile["col"],
                    "xmin": tile["bounds"][0],
                    "ymin": tile["bounds"][1],
                    "xmax": tile["bounds"][2],
                    "ymax": tile["bounds"][3],
                    "crs": reg.job.grid.crs,
                    "landslide_fraction": round(tile["landslide_px"] / PATCH_SIZE**2, 6),
                    "scene_ids": ";".join(s["id"] for s in scenes),
                    "scene_dates": ";".join(s.get("date") or "" for s in scenes),
                    "source": prov.get("source", ""),
                    "sha256": tile["sha256"],
                }
            )

    content = hashlib.sha256(
        json.dumps(
            {
                "scaling": scaling,
                "bands": STACK_BANDS,
                "patches": [
                    (r["split"], r["index"], r["region"], r["tile_row"], r["tile_col"], r["sha256"])
                    for r in rows
                ],
            },
            sort_keys=True,
        ).encode()
    )
    dataset_version = content.hexdigest()[:12]
    for r in rows:
        r["version"] = dataset_version
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(stage / "manifest.csv", buf.getvalue())

    train_tiles = [t for (_, s), ts in per_split.items() if s == "train" for t in ts]
    mean, std = _band_stats(train_tiles)
    region_meta = []
    for reg in regions:
        prov = reg.job.provenance
        entry = {
            "name": reg.name,
            "grid": reg.job.grid.to_dict(),
            "source": prov.get("source"),
            "scenes": prov.get("scenes", []),
            "details": prov.get("details", {}),
            "labels": prov.get("labels"),
            "dropped": reg.dropped,
            "event": prov.get("event"),
            "imagery": prov.get("imagery"),
            "dem": prov.get("dem", "local"),
            "notes": prov.get("notes", ""),
            "licence": prov.get("licence", DEFAULT_LICENCE),
        }
        for split in splits:
            entry[split] = _summary(per_split.get((reg.name, split), []))
        region_meta.append(entry)
        if "region_yaml" in prov:
            write_text(stage / "regions" / f"{reg.name}.yaml", prov["region_yaml"])

    everything = {"name": "all regions"}
    for split in splits:
        everything[split] = _summary(
            [t for (_, s), ts in per_split.items() if s == split for t in ts]
        )

    history = []
    if previous is not None and previous.get("version") != dataset_version:
        history = [
            *previous.get("history", []),
            {k: previous.get(k) for k in ("version", "created", "counts")},
        ]
    elif previous is not None:
        history = previous.get("history", [])
    meta = {
        "name": "Landslide4Sense (rebuilt)",
        "version": dataset_version,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "patch_size": PATCH_SIZE,
        "bands": list(STACK_BANDS),
        "units": [BAND_UNITS[b] for b in STACK_BANDS],
        "scaling": scaling,
        "scale_divisors": L4S_SCALE.tolist() if scaling == "l4s" else [1.0] * len(STACK_BANDS),
        "resampling": "bilinear (all 14 bands); labels: pixel centre inside polygon",
        "layout": str(layout),
        "split_rule": f"first {train_fraction:.0%} (rounded up) of each region's tiles in "
        "row-major order train, the rest test"
        + (
            f"; the last {VAL_FRACTION:.0%} (rounded up) of each region's training tiles are "
            "held out as validation"
            if "val" in splits
            else ""
        ),
        "train_mean": mean,
        "train_std": std,
        "counts": {
            **counters,
            "regions": {r["name"]: {s: r[s]["patches"] for s in splits} for r in region_meta},
        },
        "regions": region_meta,
        "all": everything,
        "history": history,
        "licence": patches_licence([r["licence"] for r in region_meta]),
        "environment": environment(),
        "split_overlaps": [],
    }
    index = patch_index(rows)
    meta["split_overlaps"] = split_overlaps(index)
    if meta["split_overlaps"]:
        log.warning("%d pairs of patches of different splits overlap on the ground, e.g. %s",
                    len(meta["split_overlaps"]), meta["split_overlaps"][0])  # fmt: skip
    write_patch_index(stage / INDEX_PARQUET, index)
    windows = {r["name"]: _window(r, meta["created"]) for r in region_meta}
    write_stac(stage / STAC_DIR, stac_collection(
        index, collection_id=f"landslide4sense-{dataset_version}", title=meta["name"],
        description=f"The patches of {meta['name']}, version {dataset_version}: see card.md.",
        licence=meta["licence"], windows=windows))  # fmt: skip
    manifest_sha = hashlib.sha256((stage / "manifest.csv").read_bytes()).hexdigest()
    write_json(stage / CROISSANT_JSON,
               croissant(meta, manifest_sha, licence_url(meta["licence"]), splits))  # fmt: skip
    if figures:
        _figures(stage, meta, rows, per_split, splits)
    write_text(stage / "card.md", render_card(meta))
    write_json(stage / "dataset.json", meta)
    _publish(stage, out)
    log.info("benchmark %s: %s patches, version %s", out,
             " + ".join(f"{n} {s}" for s, n in counters.items()), dataset_version)  # fmt: skip
    return meta


def _window(region: dict, created: str) -> tuple[dt.date, dt.date]:
    """A region's imagery window; else its scenes' dates; else the day it was published."""
    if region.get("imagery"):
        start, end = region["imagery"]["start"], region["imagery"]["end"]
    else:
        dates = sorted(s["date"] for s in region.get("scenes", []) if s.get("date")) or [
            created[:10]
        ]
        start, end = dates[0], dates[-1]
    return dt.date.fromisoformat(str(start)), dt.date.fromisoformat(str(end))


def _figures(stage: Path, meta: dict, rows: list[dict], per_split: dict, splits: list[str]) -> None:
    figs = stage / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    samples = []
    for reg in meta["regions"]:  # the two patches with the most landslide pixels per region
        mine = sorted(
            (r for r in rows if r["region"] == reg["name"]),
            key=lambda r: (-r["landslide_fraction"], r["id"]),
        )[:2]
        samples += [
            (stage / r["image"], stage / r["mask"], f"{r['region']} {r['id']}") for r in mine
        ]
    scale_div = np.asarray(meta["scale_divisors"], np.float32)
    plot_samples(figs / "sample_patches.png", samples, scale_div)
    n_px = PATCH_SIZE * PATCH_SIZE
    names = [r["name"] for r in meta["regions"]]
    groups = [
        (name, {s: patch_means(per_split.get((name, s), []), n_px) for s in splits})
        for name in names
    ]
    everything = {s: [t for n in names for t in per_split.get((n, s), [])] for s in splits}
    groups.append(("all regions", {s: patch_means(t, n_px) for s, t in everything.items()}))
    plot_band_values(figs / "band_values.png", groups, meta["bands"], scale_div)
    shares = [*meta["regions"], meta["all"]]
    plot_landslide_share(figs / "landslide_share.png", shares, splits)


def _publish(stage: Path, out: Path) -> None:
    """Swap the staged benchmark into ``out``; ``dataset.json`` goes last (the commit)."""
    (out / "dataset.json").unlink(missing_ok=True)
    trash = out / f".trash-{uuid.uuid4().hex[:8]}"
    trash.mkdir()
    for name in PUBLISHED:
        if (out / name).exists():
            os.replace(out / name, trash / name)
        if (stage / name).exists():
            os.replace(stage / name, out / name)
    os.replace(stage / "dataset.json", out / "dataset.json")
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)
