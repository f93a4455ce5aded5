"""Assembling regions into the benchmark: split, global numbering, manifest, card, figures.

Each region's kept tiles, in row-major order, are split by the paper's rule (the first quarter
trains, the rest tests), then numbered per split across regions in the order they joined the
benchmark, each region keeping its numbers from the previous version unless its count of tiles
changes (:mod:`landslide4sense.patching.numbering`).

Everything the benchmark says about itself is computed by pure functions, each with its own
test: :func:`number_patches`, :func:`content_version`, :func:`manifest_rows`,
:func:`band_stats`, :func:`summarise`, :func:`history` and :func:`dataset_meta` (the card is
:func:`~landslide4sense.patching.card.render_card`). :func:`assemble` only writes their results
into a staging folder and publishes it as a new version (:mod:`landslide4sense.versions`): a
kill at any instant leaves the previous version or the new one, whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landslide4sense.cache import code_version
from landslide4sense.choices import OutputLayout, Scaling, Split
from landslide4sense.errors import OutdatedFileError
from landslide4sense.files import write_text
from landslide4sense.layout import (
    BAND_UNITS,
    CARD_MD,
    DATASET_JSON,
    FIGURES_DIR,
    IMAGE_DIR,
    JOB_FILE,
    MANIFEST_CSV,
    MASK_DIR,
    PATCH_SIZE,
    REGIONS_DIR,
    SPLIT_DIRS,
    STACK_BANDS,
    image_path,
    mask_path,
)
from landslide4sense.patching.card import render_card
from landslide4sense.patching.numbering import Renumbered, assign_numbers, renumbered
from landslide4sense.patching.region import RegionJob, RegionTiles, collect_tiles
from landslide4sense.patching.split_file import write_split_files
from landslide4sense.patching.stack import scale_divisors
from landslide4sense.records import (
    Counts,
    DatasetMeta,
    HistoryEntry,
    ManifestRow,
    RegionMeta,
    SplitCounts,
    SplitSummary,
    Summary,
    TileRecord,
    read_dataset_meta,
    read_manifest,
    write_dataset_meta,
    write_manifest,
)
from landslide4sense.versions import KEEP_VERSIONS, commit, staged

log = logging.getLogger(__name__)


def split_count(n: int, train_fraction: float = 0.25) -> int:
    """How many of a region's ``n`` tiles train: the first quarter, rounded up."""
    return math.ceil(n * train_fraction)


@dataclass(frozen=True)
class Patch:
    """A tile's place in the benchmark: its split and number, and the job that cut it."""

    split: Split
    index: int  # N of image_N.h5, from 1 per split
    job: RegionJob
    tile: TileRecord

    @property
    def image(self) -> str:
        return image_path(self.split, self.index)

    @property
    def mask(self) -> str:
        return mask_path(self.split, self.index)


def number_patches(
    regions: list[RegionTiles],
    train_fraction: float = 0.25,
    previous: dict[tuple[str, str], list[int]] | None = None,
) -> list[Patch]:
    """Split each region's tiles (the first ``train_fraction``, rounded up, train) and number
    them per split across regions, in the order given (the order they joined), keeping the
    ``previous`` numbers of each (region, split) whose count is unchanged."""
    n_trains = [split_count(len(reg.tiles), train_fraction) for reg in regions]
    counts = [(reg.name, {Split.TRAIN.value: k, Split.TEST.value: len(reg.tiles) - k})
              for reg, k in zip(regions, n_trains, strict=True)]  # fmt: skip
    numbers = assign_numbers(counts, previous or {})
    patches = []
    for reg, n_train in zip(regions, n_trains, strict=True):
        for i, tile in enumerate(reg.tiles):
            split = Split.TRAIN if i < n_train else Split.TEST
            k = i if split is Split.TRAIN else i - n_train
            patches.append(Patch(split, numbers[(reg.name, split.value)][k], reg.job, tile))
    return patches


def patch_numbers(patches: list[Patch]) -> dict[tuple[str, str], list[int]]:
    """The numbers of each (region, split), in tile order."""
    numbers: dict[tuple[str, str], list[int]] = {}
    for p in patches:
        numbers.setdefault((p.job.name, p.split.value), []).append(p.index)
    return numbers


def previous_numbers(manifest: Path) -> dict[tuple[str, str], list[int]]:
    """The numbers of each (region, split) in a published manifest, in tile order."""
    if not manifest.exists():
        return {}
    tiles: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for r in read_manifest(manifest):
        tiles.setdefault((r.region, r.split.value), []).append((r.tile_row, r.tile_col, r.index))
    return {k: [n for *_, n in sorted(v)] for k, v in tiles.items()}


def content_version(
    scaling: Scaling, patches: list[Patch], layout: OutputLayout = OutputLayout.RELEASE
) -> str:
    """The dataset version: a hash of the scaling, the bands, and every patch's split, number,
    region, tile and content checksum; and of the layout when it is not the plain release
    (a version is one set of published files: kept versions are never rewritten)."""
    content = {
        "scaling": Scaling(scaling).value,
        "bands": STACK_BANDS,
        "patches": [
            (p.split.value, p.index, p.job.name, p.tile.row, p.tile.col, p.tile.sha256)
            for p in patches
        ],
    }
    if layout != OutputLayout.RELEASE:
        content["layout"] = OutputLayout(layout).value
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]


def manifest_rows(patches: list[Patch], version: str) -> list[ManifestRow]:
    """One manifest row per patch."""
    rows = []
    for p in patches:
        t, prov = p.tile, p.job.provenance
        rows.append(
            ManifestRow(
                id=f"{p.split}_{p.index}",
                split=p.split,
                index=p.index,
                image=p.image,
                mask=p.mask,
                region=p.job.name,
                tile_row=t.row,
                tile_col=t.col,
                xmin=t.bounds[0],
                ymin=t.bounds[1],
                xmax=t.bounds[2],
                ymax=t.bounds[3],
                crs=p.job.grid.crs,
                landslide_fraction=round(t.landslide_px / PATCH_SIZE**2, 6),
                scene_ids=";".join(s.id for s in prov.scenes),
                scene_dates=";".join(s.date or "" for s in prov.scenes),
                source=prov.source,
                sha256=t.sha256,
                version=version,
            )
        )
    return rows


def band_stats(tiles: list[TileRecord]) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation over every pixel of ``tiles``, from their sums."""
    n = len(tiles) * PATCH_SIZE * PATCH_SIZE
    s = np.sum([t.sum for t in tiles], axis=0)
    sq = np.sum([t.sumsq for t in tiles], axis=0)
    mean = s / n
    std = np.sqrt(np.maximum(sq / n - mean**2, 0.0))
    return mean.tolist(), std.tolist()


def summarise(tiles: list[TileRecord]) -> SplitSummary:
    """Patch count, landslide share and per-band means of landslide / other pixels of tiles."""
    n_px = len(tiles) * PATCH_SIZE * PATCH_SIZE
    n_ls = sum(t.landslide_px for t in tiles)
    n_bg = n_px - n_ls
    s = np.sum([t.sum for t in tiles], axis=0) if tiles else None
    s_ls = np.sum([t.sum_ls for t in tiles], axis=0) if tiles else None
    return SplitSummary(
        patches=len(tiles),
        landslide_share=n_ls / n_px if n_px else 0.0,
        landslide=(s_ls / n_ls).tolist() if n_ls else None,
        background=((s - s_ls) / n_bg).tolist() if n_bg else None,
    )


def _tiles(patches: Iterable[Patch], split: Split, region: str | None = None) -> list[TileRecord]:
    return [p.tile for p in patches if p.split is split and region in (None, p.job.name)]


def history(previous: DatasetMeta | None, version: str) -> list[HistoryEntry]:
    """The versions before ``version``: the previous benchmark's, plus the previous one itself
    when its version differs (a re-publication of the same content adds nothing)."""
    if previous is None:
        return []
    if previous.version == version:
        return previous.history
    entry = HistoryEntry(version=previous.version, created=previous.created,
                         counts=previous.counts)  # fmt: skip
    return [*previous.history, entry]


def dataset_meta(
    regions: list[RegionTiles],
    patches: list[Patch],
    scaling: Scaling,
    *,
    version: str,
    created: dt.datetime,
    previous: DatasetMeta | None = None,
    train_fraction: float = 0.25,
    renumbered: list[Renumbered] | None = None,
) -> DatasetMeta:
    """``dataset.json`` of the benchmark made of ``patches`` (numbered from ``regions``;
    ``renumbered``: the regions' splits that got new numbers, for the card)."""
    mean, std = band_stats(_tiles(patches, Split.TRAIN))
    region_meta = [
        RegionMeta(
            **reg.job.provenance.model_dump(exclude={"region_yaml"}),
            name=reg.name,
            grid=reg.job.grid,
            dropped=reg.dropped,
            train=summarise(_tiles(patches, Split.TRAIN, reg.name)),
            test=summarise(_tiles(patches, Split.TEST, reg.name)),
        )
        for reg in regions
    ]
    everything = Summary(name="all regions", train=summarise(_tiles(patches, Split.TRAIN)),
                         test=summarise(_tiles(patches, Split.TEST)))  # fmt: skip
    return DatasetMeta(
        version=version,
        created=created,
        code_version=code_version(),
        patch_size=PATCH_SIZE,
        bands=list(STACK_BANDS),
        units=[BAND_UNITS[b] for b in STACK_BANDS],
        scaling=scaling,
        scale_divisors=scale_divisors(scaling).tolist(),
        resampling="bilinear (all 14 bands); labels: pixel centre inside polygon",
        split_rule=f"first {train_fraction:.0%} (rounded up) of each region's tiles in "
        "row-major order train, the rest test",
        train_mean=mean,
        train_std=std,
        counts=Counts(
            train=everything.train.patches,
            test=everything.test.patches,
            regions={
                r.name: SplitCounts(train=r.train.patches, test=r.test.patches) for r in region_meta
            },
        ),
        regions=region_meta,
        all=everything,
        history=history(previous, version),
        renumbered=[r.describe() for r in renumbered or []],
    )


def previous_meta(out: Path) -> DatasetMeta | None:
    """The benchmark already in ``out``, if any. One written by an older landslide4sense is
    replaced (its history of versions is not carried over).

    Raises:
        InputDataError: ``out`` holds a ``dataset.json`` from a newer landslide4sense, or an
            unreadable one.
    """
    path = out / DATASET_JSON
    if not path.exists():
        return None
    try:
        return read_dataset_meta(path)
    except OutdatedFileError as err:
        log.warning("%s; replacing it, without its history of versions", err)
        return None


def assemble(
    out: str | Path,
    jobs: list[RegionJob],
    scaling: Scaling,
    train_fraction: float = 0.25,
    figures: bool = True,
    layout: OutputLayout = OutputLayout.RELEASE,
    keep: int = KEEP_VERSIONS,
) -> DatasetMeta:
    """Publish the benchmark of ``jobs`` (in the order they joined) into ``out`` as a new
    version, keeping the last ``keep`` versions; return its metadata.

    ``layout`` ``release+split-files`` adds one chunked file per split beside the folders.

    Raises:
        EmptyResultError: a region has no valid tile.
        InputDataError: ``out`` holds a benchmark from a newer landslide4sense.
        PublishError: writing failed (a full disk); the previous version stays current.
    """
    out = Path(out)
    with staged(out) as stage:
        version = _write_version(out, stage, jobs, scaling, train_fraction, figures, layout)
        commit(out, stage, version, [Path(job.work) / JOB_FILE for job in jobs], keep)
    meta = read_dataset_meta(out / DATASET_JSON)  # a version published before keeps its own
    log.info("benchmark %s: %d train + %d test patches, version %s", out, meta.counts.train,
             meta.counts.test, meta.version)  # fmt: skip
    return meta


def _write_version(
    out: Path, stage: Path, jobs: list[RegionJob], scaling: Scaling, train_fraction: float,
    figures: bool, layout: OutputLayout,
) -> str:  # fmt: skip
    """Write the version of ``jobs`` into ``stage``; return its version."""
    regions = [collect_tiles(job) for job in jobs]
    previous = previous_numbers(out / MANIFEST_CSV)
    patches = number_patches(regions, train_fraction, previous)
    version = content_version(scaling, patches, layout)
    meta = dataset_meta(regions, patches, scaling, version=version,
                        created=dt.datetime.now(dt.UTC).replace(microsecond=0),
                        previous=previous_meta(out), train_fraction=train_fraction,
                        renumbered=renumbered(patch_numbers(patches), previous))  # fmt: skip
    meta = meta.model_copy(update={"layout": layout})
    rows = manifest_rows(patches, version)
    for split_dir in SPLIT_DIRS.values():  # both splits exist, even without a patch
        for kind in (IMAGE_DIR, MASK_DIR):
            (stage / split_dir / kind).mkdir(parents=True)
    for p in patches:
        img_src, mask_src = p.job.patch_paths(p.tile.row, p.tile.col)
        _link(img_src, stage / p.image)
        _link(mask_src, stage / p.mask)
    if layout == OutputLayout.SPLIT_FILES:
        counts = {Split.TRAIN: meta.counts.train, Split.TEST: meta.counts.test}
        write_split_files(stage, version, counts)
    write_manifest(stage / MANIFEST_CSV, rows)
    for job in jobs:
        if job.provenance.region_yaml:
            write_text(stage / REGIONS_DIR / f"{job.name}.yaml", job.provenance.region_yaml)
    if figures:
        _figures(stage, meta, rows)
    write_text(stage / CARD_MD, render_card(meta))
    write_dataset_meta(stage / DATASET_JSON, meta)
    return version


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not supported
        shutil.copyfile(src, dst)


def _figures(stage: Path, meta: DatasetMeta, rows: list[ManifestRow]) -> None:
    # Imported here: matplotlib is needed only now, not by whoever imports the package.
    from landslide4sense.patching.figures import (
        plot_band_means,
        plot_landslide_share,
        plot_samples,
    )

    figs = stage / FIGURES_DIR
    figs.mkdir(parents=True, exist_ok=True)
    samples = []
    for reg in meta.regions:  # the two patches with the most landslide pixels per region
        mine = sorted((r for r in rows if r.region == reg.name),
                      key=lambda r: (-r.landslide_fraction, r.id))[:2]  # fmt: skip
        samples += [(stage / r.image, stage / r.mask, f"{r.region} {r.id}") for r in mine]
    plot_samples(
        figs / "sample_patches.png", samples[:8], np.asarray(meta.scale_divisors, np.float32)
    )
    groups = [*meta.regions, meta.all]
    plot_band_means(figs / "band_means.png", groups, meta.bands, meta.scaling)
    plot_landslide_share(figs / "landslide_share.png", groups)
