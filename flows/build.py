"""The build flows: ``build_benchmark`` (every region) and ``add_region`` (one more region).

Each region goes through the same tasks: fetch its raw layers, resolve its labels (OBIA
candidates when it has none, a stop until they are corrected), make terrain (metric DEM and
slope) and prepare labels (repair, rasterize), cut its tiles block by block; then all regions
are assembled into the benchmark, and a new version emits ``l4s.dataset.updated``.

Every task writes into ``OUT/.l4s/<region>/<stage>-<key>/``, where the key covers the content of
the stage's input files, every parameter and the code version
(:mod:`landslide4sense.store.cache`): a re-run skips what is done and intact, redoes what
changed, and a killed build resumes where it stopped. Tasks pass typed records (the region
parsed once as a :class:`Region`, its :class:`Grid`, its :class:`RawLayers`, the published
:class:`DatasetMeta`) and file paths, never arrays or loose dicts. The flows check their input
before anything is written (:mod:`landslide4sense.flows.preflight`), then open the output folder
once (:func:`landslide4sense.store.benchmark.open_benchmark`: claimed, locked for the whole run)
and publish a new version atomically through it.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
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

from landslide4sense.acquisition import RawLayers, fetch_dem, find_labels, get_source
from landslide4sense.choices import OutputLayout, Scaling, SourceKind
from landslide4sense.files import file_hash
from landslide4sense.flows.preflight import (
    MAX_AOI_KM2,
    check_build,
    check_scaling,
    no_labels,
    region_files,
    same_layout,
)
from landslide4sense.flows.retraining import DATASET_UPDATED
from landslide4sense.flows.runners import flow_run_name
from landslide4sense.geo import Grid
from landslide4sense.layout import CARD_MD, JOB_FILE
from landslide4sense.patching import RegionJob, cut_blocks, patch_rows
from landslide4sense.records import DatasetMeta, LabelFile, LabelReport, LayerProvenance, Scene
from landslide4sense.regions import Region, region_grid
from landslide4sense.runtime.console import progress as show_progress
from landslide4sense.runtime.processes import in_child_process
from landslide4sense.store.benchmark import HASHES, Benchmark, open_benchmark
from landslide4sense.store.cache import (
    building,
    clear_temporary,
    corrupt,
    read_cached,
    reusable,
    seal,
    stage_key,
)
from landslide4sense.store.provenance import portable, portable_values

#: Processes that cut patches on this machine (cutting holds the GIL: threads would queue).
CUT_PROCESSES = os.cpu_count() or 1
STAGES = ("terrain-", "labels-", "patches-")  # work folders named <stage>-<key of inputs>


def _job(path: Path) -> RegionJob:
    """A region's job file, from its patches folder."""
    return RegionJob.load(path, read_cached(path, Path(path).parent))


def _cached(result: Path | list[Path]) -> State:
    """A task's result when its work was already done: Prefect shows the run as Cached."""
    return Completed(name="Cached", data=result, message="inputs unchanged: nothing redone")


def _aoi_in_grid_crs(region: Region, crs: str) -> shapely.Geometry:
    to_grid = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform
    return shapely.transform(
        shapely.segmentize(region.aoi_geometry(), 0.01), to_grid, interleaved=False
    )


@task
def fetch_layers(
    region: Region, grid: Grid, source: SourceKind, raw: Path | None, work: Path
) -> RawLayers:
    """A region's raw layers: Sentinel-2 from ``source``, the DEM of the region's ``dem:``
    (found first, so a missing local file fails before any download), the labels in
    ``RAW/<region>/``. Not retried here: every network call retries by itself
    (:mod:`acquisition.retry`)."""
    get_run_logger().info("%s: fetching raw layers (%s source)", region.name, source)
    folder = work / region.name
    dem = fetch_dem(region, grid, folder, raw)
    s2 = get_source(source, raw).fetch(region, grid, folder)
    labels = find_labels(region, Path(raw or ".") / region.name)
    return RawLayers.compose(region.name, s2, dem, labels)


def _pre_event_bands(region: Region, grid: Grid, source: SourceKind, raw: Path | None, work: Path):
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
def resolve_labels(
    region: Region,
    grid: Grid,
    layers: RawLayers,
    source: SourceKind,
    raw: Path | None,
    bench: Benchmark,
) -> LabelFile:
    """The label file and layer to build with. A region without labels gets OBIA candidates
    (from pre- and post-event imagery) in ``RAW/<region>/labels.gpkg``; a region whose labels
    are uncorrected candidates stops here unless it accepts candidates."""
    from landslide4sense.annotation import label_layer, write_candidates

    work = bench.work
    labels = layers.labels
    if labels is None:
        pre = _pre_event_bands(region, grid, source, raw, work)
        if pre is None:
            raise no_labels(region, raw)
        labels = Path(raw or work) / region.name / "labels.gpkg"
        write_candidates(
            region, grid, pre, layers.bands, layers.dem, labels, work / region.name / "candidates"
        )
    layer = label_layer(labels, region.annotation.accept_candidates)
    return LabelFile(path=labels, layer=layer)


@task
def make_terrain(region: Region, grid: Grid, layers: RawLayers, work: Path) -> Path | State:
    """The DEM cropped (or projected) to a metric CRS, and its slope, under ``work`` (the
    state folder, ``OUT/.l4s``: the build's or the map's); returns their folder."""
    dem = layers.dem
    key = stage_key(file_hash(dem, work / HASHES), grid.to_dict())
    folder = work / region.name / f"terrain-{key}"
    if reusable(folder):
        return _cached(folder)
    from landslide4sense.geo import write_terrain

    with building(folder) as tmp:
        in_child_process(write_terrain, dem, grid, tmp)
    return folder


@task
def make_labels(region: Region, grid: Grid, labels: LabelFile, bench: Benchmark) -> Path | State:
    """Repaired polygons and the label mask on the grid; returns their folder."""
    key = stage_key(
        bench.file_hash(labels.path),
        labels.layer,
        grid.to_dict(),
        region.aoi.model_dump(mode="json"),
        region.annotation.min_area_m2,
    )
    folder = bench.work / region.name / f"labels-{key}"
    if reusable(folder):
        return _cached(folder)
    from landslide4sense.annotation import prepare_labels

    with building(folder) as tmp:
        in_child_process(
            prepare_labels,
            labels.path,
            grid,
            tmp,
            _aoi_in_grid_crs(region, grid.crs),
            region.annotation.min_area_m2,
            labels.layer,
        )
    return folder


@task
def hash_bands(layers: RawLayers, bench: Benchmark) -> list[str]:
    """The content hash of each Sentinel-2 band file, in the order of ``layers.bands``
    (remembered in ``OUT/.l4s/hashes``). Submitted after the terrain and label stages, it
    starts when the first of them ends and reads the bands while the other goes on."""
    with ThreadPoolExecutor(2) as pool:  # hashlib lets go of the GIL: both cores read
        return list(pool.map(bench.file_hash, layers.bands.values()))


@task
def plan_region(
    region: Region,
    grid: Grid,
    raw: RawLayers,
    hashes: list[str],
    terrain: Path,
    labels: Path,
    scaling: Scaling,
    bench: Benchmark,
    raw_dir: Path | None = None,
) -> Path:
    """Write the region's :class:`RegionJob`; returns its path. Its provenance names inputs
    relative to ``RAW`` (or by content hash), never by the machine's absolute paths."""
    aoi = _aoi_in_grid_crs(region, grid.crs).wkt
    key = stage_key(
        dict(zip(raw.bands, hashes, strict=True)),
        terrain.name,
        labels.name,
        scaling,
        grid.to_dict(),
        aoi,
        RegionJob.model_fields["rows_per_block"].default,
    )
    folder = bench.work / region.name / f"patches-{key}"
    reusable(folder)  # a finished folder must be intact; an unfinished one resumes
    roots = {"RAW": raw_dir} if raw_dir is not None else {}
    label_report = LabelReport.model_validate(read_cached(labels / "labels.json", labels))
    provenance = LayerProvenance(
        source=raw.source,
        scenes=[Scene(id=s.id, date=s.date, cloud_cover=s.cloud_cover) for s in raw.scenes],
        details=portable_values(raw.details, roots),
        labels=label_report.model_copy(update={"source": portable(label_report.source, roots)}),
        region_yaml=region.path.read_text(),
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
        aoi_wkt=aoi,
        scaling=scaling,
        work=str(folder),
        provenance=provenance,
    )
    return job.save(folder / JOB_FILE)


@task
def cut_block(job_file: Path, start: int, stop: int) -> Path | State:
    """Cut tile rows ``start``..``stop-1`` of a region into patches; returns the block index."""
    job = _job(job_file)
    if job.index_path(start, stop).exists():
        return _cached(job.index_path(start, stop))
    return patch_rows(job, start, stop)


@task
def cut_regions(job_files: list[Path]) -> list[Path] | State:
    """Cut every block of every region on this machine's cores (a pool of processes)."""
    blocks = [(job, a, b) for job in map(_job, job_files) for a, b in job.blocks()]
    if all(job.index_path(a, b).exists() for job, a, b in blocks):
        return _cached([job.index_path(a, b) for job, a, b in blocks])
    artifact = create_progress_artifact(0.0, description="blocks of tile rows cut")
    tiles = sum((b - a) * job.grid.tile_shape()[1] for job, a, b in blocks)
    shown = 0
    with show_progress(
        f"cutting {len(job_files)} region(s)", tiles, "patches", get_run_logger()
    ) as advance:

        def progress(done: int, total: int) -> None:  # blocks done: their tiles, about
            nonlocal shown
            update_progress_artifact(artifact, 100.0 * done / total)
            now = round(tiles * done / total)
            advance(now - shown)
            shown = now

        return cut_blocks(blocks, processes=CUT_PROCESSES, progress=progress)


@task
def publish(
    bench: Benchmark,
    job_files: list[Path],
    scaling: Scaling,
    layout: OutputLayout,
    before: str | None,
) -> DatasetMeta:
    """Split, number and publish every region's patches as the benchmark's new version; a new
    version (not ``before``) emits the ``l4s.dataset.updated`` event (retraining listens)."""
    from landslide4sense.patching.assemble import assemble

    for f in job_files:  # every region's patches finished and intact
        if not reusable(f.parent):
            raise corrupt(f.parent, "its patches were never finished")
    meta = assemble(bench, [_job(f) for f in job_files], scaling, layout=layout)
    _forget_stale_work(bench)
    post_artifacts(bench.out, meta)
    if meta.version != before:
        out = bench.out.resolve()
        emit_event(
            event=DATASET_UPDATED,
            resource={
                "prefect.resource.id": f"l4s.dataset.{out}",
                "prefect.resource.name": out.name,
            },
            payload={
                "dataset": str(out),
                "version": meta.version,
                "previous": before,
                "counts": meta.counts.model_dump(mode="json"),
            },
        )
    return meta


def _summary(meta: DatasetMeta, before: str | None) -> dict:
    """What a build flow returns (the CLI prints it): version, counts, scaling, previous."""
    return {
        "version": meta.version,
        "counts": meta.counts.model_dump(mode="json"),
        "scaling": meta.scaling.value,
        "previous": before,
    }


def post_artifacts(out: Path, meta: DatasetMeta) -> None:
    """Post the published card (markdown) and its patch counts (table) to Prefect's UI."""
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


def _forget_stale_work(bench: Benchmark) -> None:
    """Remove work folders of regions or inputs in none of the kept versions (so that any of
    them can be restored and built on), and the temporary folders of killed stages."""
    job_files = [j for v in bench.versions() for j in bench.jobs(v.version)]
    keep = {f.parent for f in job_files}
    for f in job_files:
        job = _job(f)
        keep |= {Path(job.slope).parent, Path(job.mask).parent}
    kept = {k.resolve() for k in keep}
    for region_dir in bench.work.iterdir():
        if not region_dir.is_dir():
            continue
        clear_temporary(region_dir)
        for stage in region_dir.iterdir():
            stale = stage.name.startswith(STAGES) and stage.resolve() not in kept
            if stage.is_dir() and stale:
                shutil.rmtree(stage, ignore_errors=True)


def _build_regions(
    regions: list[Region],
    source: SourceKind,
    raw: Path | None,
    bench: Benchmark,
    scaling: Scaling,
) -> list[Path]:
    """Fetch every region first (bad input fails before anything is written), then make each."""
    logger = get_run_logger()
    grids = [region_grid(r) for r in regions]
    layers = [
        fetch_layers(r, g, source, raw, bench.work) for r, g in zip(regions, grids, strict=True)
    ]
    labelsets = [
        resolve_labels(r, g, lay, source, raw, bench)
        for r, g, lay in zip(regions, grids, layers, strict=True)
    ]
    # Every region's labels, terrain and band hashes, then every region's blocks of tile rows,
    # fan out on the task runner (two threads by default; a Dask cluster with --dask).
    prepared = [
        (
            make_labels.submit(r, g, ls, bench),
            make_terrain.submit(r, g, lay, bench.work),
            hash_bands.submit(lay, bench),
        )
        for r, g, lay, ls in zip(regions, grids, layers, labelsets, strict=True)
    ]
    done = _results([fut for futures in prepared for fut in futures])  # waits for all of them
    job_files = [
        plan_region(r, g, lay, hashes, terrain, labels, scaling, bench, raw)
        for r, g, lay, labels, terrain, hashes in zip(
            regions, grids, layers, done[0::3], done[1::3], done[2::3], strict=True
        )
    ]
    if isinstance(FlowRunContext.get().task_runner, ThreadPoolTaskRunner):
        cut_regions(job_files)  # this machine: processes, since cutting holds the GIL
        return _sealed(job_files)
    # A cluster (Dask): every block is a task of its own, fanned out to the workers.
    cuts = [(f, [cut_block.submit(f, a, b) for a, b in _job(f).blocks()]) for f in job_files]
    for job_file, futures in cuts:
        name = _job(job_file).name
        artifact = create_progress_artifact(0.0, description=f"tile rows cut in {name}")
        for i, _ in enumerate(as_completed(futures), 1):
            update_progress_artifact(artifact, 100.0 * i / len(futures))
            logger.info("%s: %d/%d blocks of tile rows cut", name, i, len(futures))
    _results([fut for _, futures in cuts for fut in futures])
    return _sealed(job_files)


def _sealed(job_files: list[Path]) -> list[Path]:
    """Seal each region's patches folder once every block is cut: its patches are done."""
    for job_file in job_files:
        if not reusable(job_file.parent):
            seal(job_file.parent, exclude=(JOB_FILE,))
    return job_files


def _results(futures: list) -> list:
    """Wait for every future, then return their results (raising the first failure), so that
    no task is still writing when an error reaches the caller."""
    wait(futures)
    return [f.result() for f in futures]


@flow(name="build-benchmark", task_runner=ThreadPoolTaskRunner(max_workers=2))
def build_benchmark(
    regions: Path,
    out: Path,
    source: SourceKind = SourceKind.LOCAL,
    raw: Path | None = None,
    scaling: Scaling = Scaling.L4S,
    valid: bool = False,
    split_files: bool = False,
    max_aoi_km2: float = MAX_AOI_KM2,
) -> dict:
    """Build the benchmark from every region file in ``regions`` (a folder, or one YAML).

    ``valid`` also writes ``ValidData/`` (held out of each region's training tiles);
    ``split_files`` also one chunked HDF5 file per split. Bad input is refused before anything
    is written; the output folder is locked for the run.
    """
    # Absolute: the work files record paths, and a later run may start elsewhere.
    regions, out, raw = Path(regions).absolute(), Path(out).absolute(), _absolute(raw)
    parsed = check_build(region_files(regions), source, raw, out, scaling, max_aoi_km2)
    layout = OutputLayout(valid, split_files)
    with open_benchmark(out, f"l4s build {regions}", flow_run_name()) as bench:
        before = bench.version()
        jobs = _build_regions(_in_join_order(bench, parsed), source, raw, bench, scaling)
        return _summary(publish(bench, jobs, scaling, layout, before), before)


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else Path(path).absolute()


def _in_join_order(bench: Benchmark, regions: list[Region]) -> list[Region]:
    """Regions in the order they joined the benchmark; new ones after, by name."""
    meta = bench.meta()
    joined = [r.name for r in meta.regions] if meta else []
    rank = {name: i for i, name in enumerate(joined)}
    return sorted(regions, key=lambda r: (rank.get(r.name, len(joined)), r.name))


@flow(name="add-region", task_runner=ThreadPoolTaskRunner(max_workers=2))
def add_region(
    region: Path,
    out: Path,
    source: SourceKind = SourceKind.LOCAL,
    raw: Path | None = None,
    scaling: Scaling = Scaling.L4S,
    valid: bool | None = None,
    split_files: bool | None = None,
    max_aoi_km2: float = MAX_AOI_KM2,
) -> dict:
    """Add (or rebuild) one region in the benchmark at ``out``, producing a new version.

    Regions already in the benchmark keep their patch numbers: the new region's patches are
    numbered after theirs. ``valid`` and ``split_files`` default to the benchmark's. Bad input
    is refused before anything is written; the output folder is locked for the run (a second
    run waits, then adds its region to the first's benchmark).
    """
    region, out, raw = Path(region).absolute(), Path(out).absolute(), _absolute(raw)
    (reg,) = check_build([region], source, raw, out, scaling, max_aoi_km2, adding=True)
    with open_benchmark(out, f"l4s add-region {reg.name}", flow_run_name()) as bench:
        check_scaling(out, scaling)  # the benchmark may have changed while this run waited
        layout = same_layout(out, bench.meta(), valid, split_files)
        before = bench.version()
        existing = bench.jobs()
        names = [j.parent.parent.name for j in existing]  # .l4s/<region>/patches-<key>/
        if reg.name in names:
            get_run_logger().info(
                "region '%s' is already in the benchmark (number %d of %d): rebuilding it in place",
                reg.name,
                names.index(reg.name) + 1,
                len(names),
            )
        (new_job,) = _build_regions([reg], source, raw, bench, scaling)
        jobs = [j for j, n in zip(existing, names, strict=True) if n != reg.name]
        jobs.insert(names.index(reg.name) if reg.name in names else len(jobs), new_job)
        meta = publish(bench, jobs, scaling, layout, before)
        return {**_summary(meta, before), "region": reg.name, "rebuilt": reg.name in names}
