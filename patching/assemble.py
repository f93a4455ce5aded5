"""Assembling regions into the benchmark: split, global numbering, manifest, card, figures.

Each region's kept tiles, in row-major order, are split by the paper's rule (the first quarter
trains, the rest tests), then numbered from 1 per split across regions in the given order, so
that appending a region never renumbers the patches already published. The benchmark is built
in a staging folder and published as a new version (:mod:`landslide4sense.versions`): a kill
at any instant leaves the previous version or the new one, whole.
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
from pathlib import Path

import numpy as np

from landslide4sense.cache import code_version
from landslide4sense.files import read_json, write_json, write_text
from landslide4sense.patching.card import render_card
from landslide4sense.patching.figures import plot_band_means, plot_landslide_share, plot_samples
from landslide4sense.patching.numbering import assign_numbers
from landslide4sense.patching.region import RegionJob, RegionTiles, collect_tiles
from landslide4sense.patching.stack import BAND_UNITS, L4S_SCALE, STACK_BANDS
from landslide4sense.regions import PATCH_SIZE
from landslide4sense.versions import KEEP_VERSIONS, commit, staged

log = logging.getLogger(__name__)

SPLITS = {"train": "TrainData", "test": "TestData"}
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


def previous_numbers(manifest: Path) -> dict[tuple[str, str], list[int]]:
    """The numbers of each (region, split) in a published manifest, in tile order."""
    if not manifest.exists():
        return {}
    numbers: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    with manifest.open(newline="") as f:
        for r in csv.DictReader(f):
            key = (r["region"], r["split"])
            numbers.setdefault(key, []).append((int(r["tile_row"]), int(r["tile_col"]),
                                                int(r["index"])))  # fmt: skip
    return {k: [n for *_, n in sorted(v)] for k, v in numbers.items()}


def split_count(n: int, train_fraction: float = 0.25) -> int:
    """How many of a region's ``n`` tiles train: the first quarter, rounded up."""
    return math.ceil(n * train_fraction)


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
    keep: int = KEEP_VERSIONS,
) -> dict:
    """Publish the benchmark of ``jobs`` (in this order) into ``out`` as a new version, keeping
    the last ``keep`` versions; return ``dataset.json``.

    Raises:
        EmptyResultError: a region has no valid tile.
        PublishError: writing failed (a full disk); the previous version stays current.
    """
    out = Path(out)
    with staged(out) as stage:
        meta = _write_version(out, stage, jobs, scaling, train_fraction, figures)
        commit(out, stage, meta["version"], [Path(j.work) / "job.json" for j in jobs], keep)
    meta = read_json(out / "dataset.json")  # the same content published before keeps its own
    log.info(
        "benchmark %s: %d train + %d test patches, version %s",
        out,
        meta["counts"]["train"],
        meta["counts"]["test"],
        meta["version"],
    )
    return meta


def _write_version(
    out: Path, stage: Path, jobs: list[RegionJob], scaling: str, train_fraction: float,
    figures: bool,
) -> dict:  # fmt: skip
    regions: list[RegionTiles] = [collect_tiles(job) for job in jobs]
    previous = read_json(out / "dataset.json") if (out / "dataset.json").exists() else None
    for split_dir in SPLITS.values():
        for kind in ("img", "mask"):
            (stage / split_dir / kind).mkdir(parents=True, exist_ok=True)

    counters = {"train": 0, "test": 0}
    rows: list[dict] = []
    per_split: dict[tuple[str, str], list[dict]] = {}
    n_trains = [split_count(len(reg.tiles), train_fraction) for reg in regions]
    numbers, renumbered = assign_numbers(
        [(reg.name, {"train": k, "test": len(reg.tiles) - k})
         for reg, k in zip(regions, n_trains, strict=True)],
        previous_numbers(out / "manifest.csv"),
    )  # fmt: skip
    for reg, n_train in zip(regions, n_trains, strict=True):
        prov = reg.job.provenance
        scenes = prov.get("scenes", [])
        for i, tile in enumerate(reg.tiles):
            split = "train" if i < n_train else "test"
            counters[split] += 1
            n = numbers[(reg.name, split)][i if split == "train" else i - n_train]
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
            "labels": prov.get("labels", {}),
            "dropped": reg.dropped,
            "event": prov.get("event"),
            "imagery": prov.get("imagery"),
            "dem": prov.get("dem"),
            "notes": prov.get("notes"),
        }
        for split in SPLITS:
            entry[split] = _summary(per_split.get((reg.name, split), []))
        region_meta.append(entry)
        if "region_yaml" in prov:
            write_text(stage / "regions" / f"{reg.name}.yaml", prov["region_yaml"])

    everything = {"name": "all regions"}
    for split in SPLITS:
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
        "split_rule": f"first {train_fraction:.0%} (rounded up) of each region's tiles in "
        "row-major order train, the rest test",
        "train_mean": mean,
        "train_std": std,
        "counts": {
            "train": counters["train"],
            "test": counters["test"],
            "regions": {
                r["name"]: {"train": r["train"]["patches"], "test": r["test"]["patches"]}
                for r in region_meta
            },
        },
        "regions": region_meta,
        "all": everything,
        "history": history,
        "renumbered": [r.describe() for r in renumbered],
    }
    if figures:
        _figures(stage, meta, rows)
    write_text(stage / "card.md", render_card(meta))
    write_json(stage / "dataset.json", meta)
    return meta


def _figures(stage: Path, meta: dict, rows: list[dict]) -> None:
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
    plot_samples(figs / "sample_patches.png", samples[:8], scale_div)
    groups = [*meta["regions"], meta["all"]]
    plot_band_means(figs / "band_means.png", groups, meta["bands"], meta["scaling"])
    plot_landslide_share(figs / "landslide_share.png", groups)
