"""Assembling regions into the benchmark: split, global numbering, manifest, card, figures.

Each region's kept tiles, in row-major order, are split by the paper's rule (the first quarter
trains, the rest tests; the with-valid layout holds the last tenth of the training tiles out as
validation), then numbered per split across regions in the order they joined the benchmark,
each region keeping its numbers from the previous version unless its count of tiles in a split
changes (:mod:`landslide4sense.patching.numbering`).

Everything the benchmark says about itself is computed by pure functions, each with its own
test: :func:`number_patches`, :func:`content_version`, :func:`manifest_rows`,
:func:`band_stats`, :func:`summarise`, :func:`history` and :func:`dataset_meta` (the card is
:func:`~landslide4sense.patching.card.render_card`). :func:`assemble` only writes their results
into a staging folder, with the patch index (GeoParquet, STAC) and Croissant metadata, and
publishes it as a new version (:mod:`landslide4sense.store.versions`): a kill at any instant leaves
the previous version or the new one, whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib
import json
import logging
import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landslide4sense.choices import RELEASE, OutputLayout, Scaling, Split
from landslide4sense.files import write_json, write_text
from landslide4sense.geo.stack import scale_divisors
from landslide4sense.layout import (
    BAND_UNITS,
    BROWSE_DIR,
    CARD_MD,
    CROISSANT_JSON,
    DATASET_JSON,
    FIGURES_DIR,
    FOOTPRINTS_GPKG,
    HUB_CARD,
    IMAGE_DIR,
    INDEX_PARQUET,
    JOB_FILE,
    MANIFEST_CSV,
    MASK_DIR,
    PATCH_SIZE,
    REGIONS_DIR,
    SPLIT_DIRS,
    STAC_DIR,
    STACK_BANDS,
    VERSIONS_DIR,
    image_path,
    mask_path,
)
from landslide4sense.patching.browser import FIGURES, PageTitle, write_browser
from landslide4sense.patching.card import licence_url, patches_licence, render_card
from landslide4sense.patching.croissant import croissant
from landslide4sense.patching.hdf5 import read_image, read_mask
from landslide4sense.patching.numbering import Renumbered, assign_numbers, renumbered
from landslide4sense.patching.region import RegionJob, RegionTiles, collect_tiles
from landslide4sense.patching.split_file import write_split_files
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
    read_manifest,
    write_dataset_meta,
    write_manifest,
)
from landslide4sense.runtime.processes import alongside
from landslide4sense.store.benchmark import Benchmark, open_benchmark
from landslide4sense.store.cache import code_version
from landslide4sense.store.provenance import environment
from landslide4sense.store.versions import KEEP_VERSIONS

log = logging.getLogger(__name__)

#: The share of each region's training tiles held out as ValidData (the with-valid layout):
#: training's own held-out validation subset.
VAL_FRACTION = 0.1


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


def layout_splits(layout: OutputLayout) -> list[Split]:
    """The splits of a layout, in order."""
    if layout.valid:
        return [Split.TRAIN, Split.VAL, Split.TEST]
    return [Split.TRAIN, Split.TEST]


def region_splits(
    n: int, layout: OutputLayout = RELEASE, train_fraction: float = 0.25
) -> list[Split]:
    """The split of each of a region's ``n`` tiles (row-major order).

    The first ``train_fraction`` (rounded up) trains and the rest tests (the paper's rule).
    With a with-valid layout, the last tenth (rounded up) of the training tiles is held out
    as validation, keeping at least one tile to train (training's own held-out rule).
    """
    n_train = split_count(n, train_fraction)
    n_val = 0
    if layout.valid:
        n_val = min(math.ceil(n_train * VAL_FRACTION), n_train - 1)
    return [Split.TRAIN] * (n_train - n_val) + [Split.VAL] * n_val + [Split.TEST] * (n - n_train)


def number_patches(
    regions: list[RegionTiles],
    train_fraction: float = 0.25,
    layout: OutputLayout = RELEASE,
    previous: dict[tuple[str, str], list[int]] | None = None,
) -> list[Patch]:
    """Split each region's tiles (:func:`region_splits`) and number them per split across
    regions, in the order given (the order they joined), keeping the ``previous`` numbers of
    each (region, split) whose count is unchanged (:func:`~.numbering.assign_numbers`)."""
    splits = [region_splits(len(reg.tiles), layout, train_fraction) for reg in regions]
    counts = [
        (reg.name, {s.value: mine.count(s) for s in dict.fromkeys(mine)})
        for reg, mine in zip(regions, splits, strict=True)
    ]
    numbers = assign_numbers(counts, previous or {})
    patches = []
    for reg, mine in zip(regions, splits, strict=True):
        taken = dict.fromkeys(Split, 0)
        for split, tile in zip(mine, reg.tiles, strict=True):
            patches.append(
                Patch(split, numbers[(reg.name, split.value)][taken[split]], reg.job, tile)
            )
            taken[split] += 1
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


def content_version(scaling: Scaling, patches: list[Patch], layout: OutputLayout = RELEASE) -> str:
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
    if layout != RELEASE:
        content["layout"] = layout.name
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]


def published_texts(jobs: list[RegionJob]) -> dict[str, str]:
    """The text each region publishes (its region file: licence, notes, event, imagery...)."""
    return {job.name: job.provenance.region_yaml or "" for job in jobs}


def metadata_version(out: Path, version: str, jobs: list[RegionJob]) -> str:
    """``version`` (a content version), unless a kept version of that name publishes other
    region texts (a licence, notes or event date changed, the patches not): then a version of
    its own, a hash of both. So metadata is part of the version without changing the version
    of a first build (the demo's stays ``86620ba3cd76``), and a change of text alone is a new
    version, never "nothing changed"; changing it back finds the first again."""
    folder = out / VERSIONS_DIR / version
    if not (folder / DATASET_JSON).is_file():
        return version
    texts = published_texts(jobs)
    kept = {
        name: p.read_text() if (p := folder / REGIONS_DIR / f"{name}.yaml").is_file() else ""
        for name in texts
    }
    if kept == texts:
        return version
    both = json.dumps([version, texts], sort_keys=True).encode()
    return hashlib.sha256(both).hexdigest()[:12]


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
    entry = HistoryEntry(version=previous.version, created=previous.created, counts=previous.counts)
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
    layout: OutputLayout = RELEASE,
    environment: dict[str, str | None] | None = None,
    overlaps: list[tuple[str, str]] | None = None,
    renumbered: list[Renumbered] | None = None,
) -> DatasetMeta:
    """``dataset.json`` of the benchmark made of ``patches`` (numbered from ``regions``).

    Args:
        environment: what built it (:func:`landslide4sense.store.provenance.environment`).
        overlaps: pairs of patches of different splits that overlap (:func:`split_overlaps`).
        renumbered: the regions' splits that got new numbers in this version (for the card).
    """
    splits = layout_splits(layout)

    def summaries(region: str | None = None) -> dict[str, SplitSummary]:
        return {s.value: summarise(_tiles(patches, s, region)) for s in splits}

    mean, std = band_stats(_tiles(patches, Split.TRAIN))
    region_meta = [
        RegionMeta(
            **reg.job.provenance.model_dump(exclude={"region_yaml"}),
            name=reg.name,
            grid=reg.job.grid,
            dropped=reg.dropped,
            **summaries(reg.name),
        )
        for reg in regions
    ]
    everything = Summary(name="all regions", **summaries())

    def counts(group: RegionMeta | Summary) -> dict[str, int]:
        return {s.value: getattr(group, s).patches for s in splits}

    held_out = (
        (
            f"; the last {VAL_FRACTION:.0%} (rounded up) of each region's training tiles are "
            "held out as validation"
        )
        if Split.VAL in splits
        else ""
    )
    return DatasetMeta(
        version=version,
        created=created,
        code_version=code_version(),
        layout=layout,
        patch_size=PATCH_SIZE,
        bands=list(STACK_BANDS),
        units=[BAND_UNITS[b] for b in STACK_BANDS],
        scaling=scaling,
        scale_divisors=scale_divisors(scaling).tolist(),
        resampling="bilinear (all 14 bands); labels: pixel centre inside polygon",
        split_rule=f"first {train_fraction:.0%} (rounded up) of each region's tiles in "
        f"row-major order train, the rest test{held_out}",
        train_mean=mean,
        train_std=std,
        counts=Counts(
            **counts(everything),
            regions={r.name: SplitCounts(**counts(r)) for r in region_meta},
        ),
        regions=region_meta,
        all=everything,
        history=history(previous, version),
        licence=patches_licence([r.licence for r in region_meta]),
        environment=environment or {},
        split_overlaps=overlaps or [],
        renumbered=[r.describe() for r in renumbered or []],
    )


def assemble(
    out: str | Path | Benchmark,
    jobs: list[RegionJob],
    scaling: Scaling,
    train_fraction: float = 0.25,
    figures: bool = True,
    layout: OutputLayout = RELEASE,
    keep: int = KEEP_VERSIONS,
) -> DatasetMeta:
    """Publish the benchmark of ``jobs`` (in the order they joined) into ``out`` as a new
    version, keeping the last ``keep`` versions; return its metadata.

    Args:
        out: a benchmark a run holds open (:func:`~landslide4sense.store.benchmark.
            open_benchmark`), or a folder, which is opened (locked) for the publish.
        layout: ``valid`` holds ValidData out of each region's training tiles;
            ``split_files`` adds one chunked file per split beside the folders.

    Raises:
        EmptyResultError: a region has no valid tile.
        InputDataError: ``out`` holds a benchmark from a newer landslide4sense.
        PublishError: writing failed (a full disk); the previous version stays current.
    """
    if not isinstance(out, Benchmark):
        with open_benchmark(out, "publish", claim=False) as bench:
            return assemble(bench, jobs, scaling, train_fraction, figures, layout, keep)
    with out.staged() as stage:
        version = _write_version(out, stage, jobs, scaling, train_fraction, figures, layout)
        out.commit(stage, version, [Path(job.work) / JOB_FILE for job in jobs], keep)
    meta = out.meta()  # a version published before keeps its own
    log.info(
        "benchmark %s: %s patches, version %s",
        out.out,
        " + ".join(f"{getattr(meta.counts, s)} {s}" for s in layout_splits(meta.layout)),
        meta.version,
    )
    return meta


def _write_version(
    bench: Benchmark,
    stage: Path,
    jobs: list[RegionJob],
    scaling: Scaling,
    train_fraction: float,
    figures: bool,
    layout: OutputLayout,
) -> str:
    """Write the version of ``jobs`` into ``stage``; return its version.

    Figures are drawn on another core while the rest is written: that process starts, and
    imports matplotlib (seconds), while the version is numbered."""
    drawing = alongside(FIGURES_MODULE) if figures else contextlib.nullcontext()
    with drawing as draw:
        regions = [collect_tiles(job) for job in jobs]
        numbers = previous_numbers(bench.out / MANIFEST_CSV)
        patches = number_patches(regions, train_fraction, layout, numbers)
        version = metadata_version(bench.out, content_version(scaling, patches, layout), jobs)
        rows = manifest_rows(patches, version)
        # Imported here: geopandas is needed only to publish.
        from landslide4sense.patching.index import patch_index, split_overlaps

        index = patch_index(r.model_dump(mode="json") for r in rows)
        overlaps = split_overlaps(index)
        if overlaps:
            log.warning(
                "%d pairs of patches of different splits overlap on the ground "
                "(regions whose AOIs overlap), e.g. %s and %s",
                len(overlaps),
                *overlaps[0],
            )
        meta = dataset_meta(
            regions,
            patches,
            scaling,
            version=version,
            created=dt.datetime.now(dt.UTC).replace(microsecond=0),
            previous=bench.meta(),
            train_fraction=train_fraction,
            layout=layout,
            environment=environment(),
            overlaps=overlaps,
            renumbered=renumbered(patch_numbers(patches), numbers),
        )
        splits = layout_splits(layout)
        if draw is not None:
            draw(_draw_figures, *_figure_inputs(stage, meta, rows, patches, splits))
        _write_files(stage, version, meta, rows, index, patches, jobs, splits, layout, figures)
    return version


def _write_files(
    stage: Path,
    version: str,
    meta: DatasetMeta,
    rows: list[ManifestRow],
    index,
    patches: list[Patch],
    jobs: list[RegionJob],
    splits: list[Split],
    layout: OutputLayout,
    figures: bool = True,
) -> None:
    """Everything of a version but its figures: patch links, manifest, index and footprints,
    browser, STAC, Croissant, region files, card and ``dataset.json``."""
    from landslide4sense.patching.index import (
        stac_collection,
        write_footprints,
        write_patch_index,
        write_stac,
    )

    for split in splits:  # every split of the layout exists, even without a patch
        for kind in (IMAGE_DIR, MASK_DIR):
            (stage / SPLIT_DIRS[split] / kind).mkdir(parents=True)
    for p in patches:
        img_src, mask_src = p.job.patch_paths(p.tile.row, p.tile.col)
        _link(img_src, stage / p.image)
        _link(mask_src, stage / p.mask)
    if layout.split_files:
        write_split_files(stage, version, splits)
    write_manifest(stage / MANIFEST_CSV, rows)
    write_patch_index(stage / INDEX_PARQUET, index)
    write_footprints(stage / FOOTPRINTS_GPKG, index)
    divisors = np.asarray(meta.scale_divisors, np.float32)

    def read_patch(row: ManifestRow) -> tuple[np.ndarray, np.ndarray]:
        return read_image(stage / row.image) * divisors, read_mask(stage / row.mask)

    title = PageTitle(meta.name, version, meta.created.isoformat())
    thumbnails = write_browser(
        stage / BROWSE_DIR, title, rows, index.geometry, read_patch, FIGURES if figures else ()
    )
    windows = {r.name: _window(r, meta.created.date()) for r in meta.regions}
    write_stac(
        stage / STAC_DIR,
        stac_collection(
            index,
            collection_id=f"landslide4sense-{version}",
            title=meta.name,
            description=f"The patches of {meta.name}, version {version}: see card.md.",
            licence=meta.licence,
            windows=windows,
            thumbnails=thumbnails,
        ),
    )
    manifest_sha256 = hashlib.sha256((stage / MANIFEST_CSV).read_bytes()).hexdigest()
    write_json(
        stage / CROISSANT_JSON, croissant(meta, manifest_sha256, licence_url(meta.licence), splits)
    )
    for job in jobs:
        if job.provenance.region_yaml:
            write_text(stage / REGIONS_DIR / f"{job.name}.yaml", job.provenance.region_yaml)
    card = render_card(meta)
    write_text(stage / CARD_MD, card)
    write_text(stage / HUB_CARD, card)  # datasets and the Hub read README.md's front matter
    write_dataset_meta(stage / DATASET_JSON, meta)


def _window(region: RegionMeta, published: dt.date) -> tuple[dt.date, dt.date]:
    """A region's imagery window; else its scenes' dates; else the day it was published."""
    if region.imagery is not None:
        return region.imagery.start, region.imagery.end
    dates = sorted(dt.date.fromisoformat(s.date) for s in region.scenes if s.date)
    return (dates[0], dates[-1]) if dates else (published, published)


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not supported
        shutil.copyfile(src, dst)


def patch_means(tiles: list[TileRecord], n_pixels: int) -> dict[str, np.ndarray]:
    """Each patch's per-band mean over its landslide pixels and over its other pixels.

    Args:
        tiles: tile records (per-band ``sum``, ``sum_ls`` over landslide pixels, and
            ``landslide_px``).
        n_pixels: pixels per patch.

    Returns:
        ``landslide``: (patches with landslides, bands); ``other``: (patches with other pixels,
        bands).
    """
    if not tiles:
        return {"landslide": np.empty((0, 0)), "other": np.empty((0, 0))}
    total = np.array([t.sum for t in tiles], np.float64)
    slides = np.array([t.sum_ls for t in tiles], np.float64).reshape(total.shape)
    n = np.array([t.landslide_px for t in tiles], np.float64)
    has, rest = n > 0, n < n_pixels
    return {
        "landslide": slides[has] / n[has, None],
        "other": (total[rest] - slides[rest]) / (n_pixels - n[rest, None]),
    }


FIGURES_MODULE = "landslide4sense.patching.figures"  # imports matplotlib


def _draw_figures(*args) -> None:
    """:func:`.figures.draw_figures`, importing matplotlib where it runs (not here)."""
    importlib.import_module(FIGURES_MODULE).draw_figures(*args)


def _figure_inputs(
    stage: Path,
    meta: DatasetMeta,
    rows: list[ManifestRow],
    patches: list[Patch],
    splits: list[Split],
) -> tuple:
    """What :func:`.figures.draw_figures` needs, as plain values (it runs on another process)."""
    samples = []  # read from the cut patches: the version's links may not exist yet
    for reg in meta.regions:  # the two patches with the most landslide pixels per region
        mine = sorted(
            ((r, p) for r, p in zip(rows, patches, strict=True) if r.region == reg.name),
            key=lambda rp: (-rp[0].landslide_fraction, rp[0].id),
        )[:2]
        samples += [
            (*p.job.patch_paths(p.tile.row, p.tile.col), f"{r.region} {r.id}") for r, p in mine
        ]
    n_px = PATCH_SIZE * PATCH_SIZE
    groups = [
        (name, {s.value: patch_means(_tiles(patches, s, name), n_px) for s in splits})
        for name in [r.name for r in meta.regions]
    ]
    groups.append(("all regions", {s.value: patch_means(_tiles(patches, s), n_px) for s in splits}))
    shares = [r.model_dump() for r in (*meta.regions, meta.all)]
    divisors = np.asarray(meta.scale_divisors, np.float32)
    return (
        stage / FIGURES_DIR,
        samples,
        groups,
        list(meta.bands),
        divisors,
        shares,
        [s.value for s in splits],
    )
