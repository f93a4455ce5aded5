"""The build flows: ``build_benchmark`` (every region) and ``add_region`` (one more region).

Each region goes through the same tasks: fetch its raw layers, resolve its labels (OBIA
candidates when it has none, a stop until they are corrected), make terrain (metric DEM and
slope) and prepare labels (repair, rasterize), cut its tiles block by block; then all regions
are assembled into the benchmark, and a new version emits ``l4s.dataset.updated``.

Every task writes into ``OUT/.l4s/<region>/<stage>-<key>/``, where the key is a digest of the
stage's inputs: a re-run skips what is done, and a killed build resumes where it stopped.
Tasks pass file paths, never arrays.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import shapely
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.futures import as_completed, wait
from prefect.states import Completed, State
from prefect.task_runners import ThreadPoolTaskRunner
from pyproj import Transformer

from landslide4sense import __version__
from landslide4sense.acquisition import RawLayers, fetch_dem, find_labels, get_source
from landslide4sense.choices import OutputLayout, Scaling, SourceKind
from landslide4sense.errors import ConfigError, L4SError, MissingInputError
from landslide4sense.files import digest, fingerprint, read_json, write_json
from landslide4sense.flows.train import DATASET_UPDATED
from landslide4sense.layout import CARD_MD, DATASET_JSON, REGION_LIST, STATE_DIR
from landslide4sense.patching import RegionJob, cut_blocks, patch_rows
from landslide4sense.processes import in_child_process
from landslide4sense.progress import progress as show_progress
from landslide4sense.provenance import portable, portable_values
from landslide4sense.records import (
    LabelFile,
    LabelReport,
    LayerProvenance,
    Scene,
    read_dataset_meta,
)
from landslide4sense.regions import Region, load_region, load_regions, region_grid

#: Processes that cut patches on this machine (cutting holds the GIL: threads would queue).
CUT_PROCESSES = os.cpu_count() or 1
STAGES = ("terrain-", "labels-", "patches-")  # work folders named <stage>-<key of inputs>


def _aoi_in_grid_crs(region: Region, crs: str) -> shapely.Geometry:
    to_grid = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform
    return shapely.transform(
        shapely.segmentize(region.aoi_geometry(), 0.01), to_grid, interleaved=False
    )


def _cached(result: Path | list[Path]) -> State:
    """A task's result when its work was already done: Prefect shows the run as Cached."""
    return Completed(name="Cached", data=result, message="inputs unchanged: nothing redone")


@task
def fetch_layers(region_file: Path, source: SourceKind, raw: Path | None, work: Path) -> dict:
    """A region's raw layers: Sentinel-2 from ``source``, the DEM of the region's ``dem:``
    (found first, so a missing local file fails before any download), the labels in
    ``RAW/<region>/``. Not retried here: every network call retries by itself
    (:mod:`acquisition.retry`)."""
    region = load_region(region_file)
    get_run_logger().info("%s: fetching raw layers (%s source)", region.name, source)
    grid, folder = region_grid(region), work / region.name
    dem = fetch_dem(region, grid, folder, raw)
    s2 = get_source(source, raw).fetch(region, grid, folder)
    labels = find_labels(region, Path(raw or ".") / region.name)
    return RawLayers.compose(region.name, s2, dem, labels).to_dict()


def _pre_event_bands(region: Region, grid, source: SourceKind, raw: Path | None, work: Path):
    """Band files of the pre-event composite, or None: ``RAW/<region>/pre/`` for the local
    source; the region's ``annotation.pre_imagery`` window for a networked one."""
    from landslide4sense.annotation import band_files

    folder = Path(raw or "") / region.name / "pre"
    if source == SourceKind.LOCAL or region.annotation.pre_imagery is None:
        return band_files(folder) if folder.is_dir() else None
    window = region.annotation.pre_imagery.model_dump()
    pre = region.model_copy(update={"imagery": region.imagery.model_copy(update=window)})
    return get_source(source, raw).fetch(pre, grid, work / region.name / "pre").bands


@task
def resolve_labels(region_file: Path, layers: dict, source: SourceKind, raw: Path | None,
                   work: Path) -> LabelFile:  # fmt: skip
    """The label file and layer to build with. A region without labels gets OBIA candidates
    (from pre- and post-event imagery) in ``RAW/<region>/labels.gpkg``; a region whose labels
    are uncorrected candidates stops here unless it accepts candidates."""
    from landslide4sense.annotation import label_layer, write_candidates

    region = load_region(region_file)
    grid = region_grid(region)
    labels = layers["labels"]
    if labels is None:
        pre = _pre_event_bands(region, grid, source, raw, work)
        if pre is None:
            raise MissingInputError(
                f"region '{region.name}' has no labels: add the corrected landslide polygons as "
                f"{Path(raw or '.') / region.name / 'labels.gpkg'}, or provide pre-event imagery "
                f"({Path(raw or '.') / region.name / 'pre' / 's2'}/B02..B08.tif, or "
                "annotation.pre_imagery in the region file) to make OBIA candidates"
            )
        labels = Path(raw or work) / region.name / "labels.gpkg"
        bands = {b: Path(p) for b, p in layers["bands"].items()}
        write_candidates(region, grid, pre, bands, layers["dem"], labels,
                         work / region.name / "candidates")  # fmt: skip
    layer = label_layer(labels, region.annotation.accept_candidates)
    return LabelFile(path=labels, layer=layer)


@task
def make_terrain(region_file: Path, layers: dict, work: Path) -> Path | State:
    """The DEM cropped (or projected) to a metric CRS, and its slope; returns their folder."""
    region = load_region(region_file)
    grid = region_grid(region)
    dem = Path(layers["dem"])
    folder = work / region.name / f"terrain-{digest(fingerprint(dem), grid.to_dict())}"
    if (folder / "slope.tif").exists():
        return _cached(folder)
    from landslide4sense.patching import write_terrain

    in_child_process(write_terrain, dem, grid, folder)
    return folder


@task
def make_labels(region_file: Path, labels: LabelFile, work: Path) -> Path | State:
    """Repaired polygons and the label mask on the grid; returns their folder."""
    region = load_region(region_file)
    grid = region_grid(region)
    key = digest(fingerprint(labels.path), labels.layer, grid.to_dict(),
                 region.aoi.model_dump(mode="json"), region.annotation.min_area_m2)  # fmt: skip
    folder = work / region.name / f"labels-{key}"
    if (folder / "labels.json").exists() and (folder / "mask.tif").exists():
        return _cached(folder)
    from landslide4sense.annotation import prepare_labels

    in_child_process(prepare_labels, labels.path, grid, folder,
                     _aoi_in_grid_crs(region, grid.crs), region.annotation.min_area_m2,
                     labels.layer)  # fmt: skip
    return folder


@task
def plan_region(region_file: Path, layers: dict, terrain: Path, labels: Path, scaling: Scaling,
                work: Path, raw_dir: Path | None = None) -> Path:  # fmt: skip
    """Write the region's :class:`RegionJob`; returns its path. Its provenance names inputs
    relative to ``RAW`` (or by content hash), never by the machine's absolute paths."""
    region = load_region(region_file)
    grid = region_grid(region)
    raw = RawLayers.from_dict(layers)
    inputs = {
        "bands": {b: fingerprint(p) for b, p in raw.bands.items()},
        "terrain": terrain.name,
        "labels": labels.name,
        "scaling": scaling,
        "grid": grid.to_dict(),
        "aoi": region.aoi.model_dump(mode="json"),
        "code": __version__,
        "layout": 2,  # a folder per block of tile rows (1: one folder of patches)
    }
    folder = work / region.name / f"patches-{digest(inputs)}"
    roots = {"RAW": raw_dir} if raw_dir is not None else {}
    label_report = LabelReport.model_validate(read_json(labels / "labels.json"))
    provenance = LayerProvenance(
        source=raw.source,
        scenes=[Scene(id=s.id, date=s.date, cloud_cover=s.cloud_cover) for s in raw.scenes],
        details=portable_values(raw.details, roots),
        labels=label_report.model_copy(update={"source": portable(label_report.source, roots)}),
        region_yaml=region_file.read_text(),
        event=region.event,
        imagery=region.imagery,
        dem=region.dem,
        notes=region.notes,
        licence=region.licence,
    )
    job = RegionJob(
        name=region.name,
        grid=grid,
        bands={b: str(p) for b, p in raw.bands.items()},
        slope=str(terrain / "slope.tif"),
        dem=str(terrain / "dem.tif"),
        mask=str(labels / "mask.tif"),
        aoi_wkt=_aoi_in_grid_crs(region, grid.crs).wkt,
        scaling=scaling,
        work=str(folder),
        provenance=provenance,
    )
    return job.save(folder / "job.json")


@task
def cut_block(job_file: Path, start: int, stop: int) -> Path | State:
    """Cut tile rows ``start``..``stop-1`` of a region into patches; returns the block index."""
    job = RegionJob.load(job_file)
    if job.index_path(start, stop).exists():
        return _cached(job.index_path(start, stop))
    return patch_rows(job, start, stop)


@task
def cut_regions(job_files: list[Path]) -> list[Path] | State:
    """Cut every block of every region on this machine's cores (a pool of processes)."""
    blocks = [(job, a, b) for job in map(RegionJob.load, job_files) for a, b in job.blocks()]
    if all(job.index_path(a, b).exists() for job, a, b in blocks):
        return _cached([job.index_path(a, b) for job, a, b in blocks])
    artifact = create_progress_artifact(0.0, description="blocks of tile rows cut")
    tiles = sum((b - a) * job.grid.tile_shape()[1] for job, a, b in blocks)
    shown = 0
    with show_progress(f"cutting {len(job_files)} region(s)", tiles, "patches",
                       get_run_logger()) as advance:  # fmt: skip

        def progress(done: int, total: int) -> None:  # blocks done: their tiles, about
            nonlocal shown
            update_progress_artifact(artifact, 100.0 * done / total)
            now = round(tiles * done / total)
            advance(now - shown)
            shown = now

        return cut_blocks(blocks, processes=CUT_PROCESSES, progress=progress)


@task
def publish(out: Path, job_files: list[Path], scaling: Scaling,
            layout: OutputLayout = OutputLayout.RELEASE) -> dict:  # fmt: skip
    """Split, number and publish every region's patches as the benchmark in ``out``; a new
    version emits the ``l4s.dataset.updated`` event (retraining listens to it)."""
    from landslide4sense.patching.assemble import assemble, previous_meta

    previous = previous_meta(out)
    before = previous.version if previous else None
    meta = assemble(out, [RegionJob.load(f) for f in job_files], scaling, layout=layout)
    write_json(out / STATE_DIR / REGION_LIST, [str(f.relative_to(out)) for f in job_files])
    _forget_stale_work(out, job_files)
    post_artifacts(out)
    counts = meta.counts.model_dump(mode="json")
    if meta.version != before:
        emit_event(
            event=DATASET_UPDATED,
            resource={"prefect.resource.id": f"l4s.dataset.{out.resolve()}",
                      "prefect.resource.name": out.name},
            payload={"dataset": str(out.resolve()), "version": meta.version,
                     "previous": before, "counts": counts},
        )  # fmt: skip
    return {"version": meta.version, "counts": counts, "scaling": meta.scaling.value}


def post_artifacts(out: Path) -> None:
    """Post the published card (markdown) and its patch counts (table) to Prefect's UI."""
    meta = read_dataset_meta(out / DATASET_JSON)
    about = f"{out.name}, version {meta.version}"
    card = (out / CARD_MD).read_text()
    if card.startswith("---\n"):  # the card's YAML header is for machines
        card = card.split("---\n", 2)[2]
    create_markdown_artifact(markdown=card, key="dataset-card", description=f"card of {about}")
    splits = [s for s in ("train", "val", "test") if getattr(meta.counts, s)]
    rows = [
        {"region": name, **{s: getattr(c, s) for s in splits}}
        for name, c in meta.counts.regions.items()
    ]
    rows.append({"region": "all", **{s: getattr(meta.counts, s) for s in splits}})
    create_table_artifact(table=rows, key="dataset-counts", description=f"patches of {about}")


def _forget_stale_work(out: Path, job_files: list[Path]) -> None:
    """Remove work folders of regions or inputs no longer in the benchmark."""
    keep = {f.parent for f in job_files}
    for f in job_files:
        job = RegionJob.load(f)
        keep |= {Path(job.slope).parent, Path(job.mask).parent}
    kept = {k.resolve() for k in keep}
    for region_dir in (out / STATE_DIR).iterdir():
        if not region_dir.is_dir():
            continue
        for stage in region_dir.iterdir():
            stale = stage.name.startswith(STAGES) and stage.resolve() not in kept
            if stage.is_dir() and stale:
                shutil.rmtree(stage, ignore_errors=True)


def _build_regions(
    region_files: list[Path], source: SourceKind, raw: Path | None, out: Path, scaling: Scaling
) -> list[Path]:
    """Fetch every region first (bad input fails before anything is written), then make each."""
    logger = get_run_logger()
    work = out / STATE_DIR
    layers = [fetch_layers(f, source, raw, work) for f in region_files]
    labelsets = [
        resolve_labels(f, lay, source, raw, work)
        for f, lay in zip(region_files, layers, strict=True)
    ]
    # Every region's labels and terrain, then every region's blocks of tile rows, fan out on
    # the task runner (two threads by default; a Dask cluster with --dask).
    prepared = [
        (make_labels.submit(f, ls, work), make_terrain.submit(f, lay, work))
        for f, lay, ls in zip(region_files, layers, labelsets, strict=True)
    ]
    dirs = _results([fut for pair in prepared for fut in pair])  # waits for all of them
    job_files = [
        plan_region(f, lay, terrain, labels, scaling, work, raw)
        for f, lay, labels, terrain in zip(region_files, layers, dirs[0::2], dirs[1::2],
                                           strict=True)
    ]  # fmt: skip
    if isinstance(FlowRunContext.get().task_runner, ThreadPoolTaskRunner):
        cut_regions(job_files)  # this machine: processes, since cutting holds the GIL
        return job_files
    # A cluster (Dask): every block is a task of its own, fanned out to the workers.
    cuts = [(f, [cut_block.submit(f, a, b) for a, b in RegionJob.load(f).blocks()])
            for f in job_files]  # fmt: skip
    for job_file, futures in cuts:
        name = RegionJob.load(job_file).name
        artifact = create_progress_artifact(0.0, description=f"tile rows cut in {name}")
        for i, _ in enumerate(as_completed(futures), 1):
            update_progress_artifact(artifact, 100.0 * i / len(futures))
            logger.info("%s: %d/%d blocks of tile rows cut", name, i, len(futures))
    _results([fut for _, futures in cuts for fut in futures])
    return job_files


def _results(futures: list) -> list:
    """Wait for every future, then return their results (raising the first failure), so that
    no task is still writing when an error reaches the caller."""
    wait(futures)
    return [f.result() for f in futures]


def _cleanup_on_error(out: Path, created: bool) -> None:
    if created and not (out / DATASET_JSON).exists():
        shutil.rmtree(out, ignore_errors=True)


@flow(name="build-benchmark", task_runner=ThreadPoolTaskRunner(max_workers=2))
def build_benchmark(
    regions: Path,
    out: Path,
    source: SourceKind = SourceKind.LOCAL,
    raw: Path | None = None,
    scaling: Scaling = Scaling.L4S,
    layout: OutputLayout = OutputLayout.RELEASE,
) -> dict:
    """Build the benchmark from every region file in ``regions`` (a folder, or one YAML);
    ``layout`` with-valid also writes ``ValidData/``."""
    regions, out = Path(regions), Path(out)
    files = [regions] if regions.is_file() else [r.path for r in load_regions(regions)]
    created = not out.exists()
    try:
        job_files = _build_regions(files, source, raw, out, scaling)
        return publish(out, job_files, scaling, layout)
    except L4SError:
        _cleanup_on_error(out, created)
        raise


@flow(name="add-region", task_runner=ThreadPoolTaskRunner(max_workers=2))
def add_region(
    region: Path,
    out: Path,
    source: SourceKind = SourceKind.LOCAL,
    raw: Path | None = None,
    scaling: Scaling = Scaling.L4S,
    layout: OutputLayout | None = None,
) -> dict:
    """Add (or rebuild) one region in the benchmark at ``out``, producing a new version.

    Regions already in the benchmark keep their patch numbers: the new region's patches are
    numbered after theirs. ``layout`` defaults to the benchmark's.
    """
    region, out = Path(region), Path(out)
    name = load_region(region).name
    created = not out.exists()
    published = read_dataset_meta(out / DATASET_JSON) if (out / DATASET_JSON).exists() else None
    existing = [out / p for p in read_json(out / STATE_DIR / REGION_LIST)] if published else []
    if published and published.scaling != scaling:
        raise ConfigError(
            f"{out}: the benchmark uses scaling '{published.scaling}', not '{scaling}'; pass "
            f"--scaling {published.scaling} to match, or rebuild it with `l4s build`"
        )
    if published and layout is not None and published.layout != layout:
        raise ConfigError(
            f"{out}: the benchmark has the {published.layout} layout, not {layout}; leave "
            "--layout out to keep it, or rebuild it with `l4s build --layout ...`"
        )
    layout = published.layout if published and layout is None else layout
    try:
        (new_job,) = _build_regions([region], source, raw, out, scaling)
        jobs = [j for j in existing if RegionJob.load(j).name != name]
        positions = [i for i, j in enumerate(existing) if RegionJob.load(j).name == name]
        jobs.insert(positions[0] if positions else len(jobs), new_job)
        return publish(out, jobs, scaling, layout or OutputLayout.RELEASE)
    except L4SError:
        _cleanup_on_error(out, created)
        raise
