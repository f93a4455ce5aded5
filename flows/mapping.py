"""The ``map-event`` flow: a trained baseline maps the landslides of a new event region.

The paper's use of the benchmark, "the systematic update of landslide inventories": after an
event, fetch the region's raw layers (any source), make its terrain with the build's own
tasks, then apply a checkpoint (``best.pt`` of ``l4s train``) to the region's 14-band stack
(:mod:`landslide4sense.training.predict`). Writes ``OUT/probability.tif`` (COG on the region
grid) and ``OUT/landslides.gpkg``; a summary goes to the Prefect UI as a markdown artifact.
Work files (terrain) go to ``OUT/.l4s/``; a re-run reuses them. ``OUT`` must be new, empty, or
a folder of maps this flow wrote (its marker, ``OUT/.l4s/maps.json``): a user's files are never
replaced.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)

from landslide4sense.acquisition import RawLayers
from landslide4sense.choices import Device, SourceKind
from landslide4sense.flows.build import fetch_layers, make_terrain
from landslide4sense.layout import STATE_DIR
from landslide4sense.regions import Region, load_region, region_grid
from landslide4sense.runtime import console as terminal
from landslide4sense.store.output import check_output, claim_output


@task
def apply_model(
    checkpoint: Path,
    region: Region,
    layers: RawLayers,
    terrain: Path,
    out: Path,
    device: Device,
    threshold: float,
    min_area_m2: float,
) -> dict:
    """The probability COG and the landslide polygons of a region; returns what was written."""
    from landslide4sense.training.predict import predict_region

    artifact = create_progress_artifact(0.0, description=f"{region.name}: strips of windows")

    with terminal.steps(f"mapping {region.name}", "strips") as shown:

        def progress(done: int, total: int) -> None:
            update_progress_artifact(artifact, 100.0 * done / total)
            shown(done, total)

        p = predict_region(
            checkpoint,
            region_grid(region),
            {b: Path(f) for b, f in layers.bands.items()},
            terrain / "slope.tif",
            terrain / "dem.tif",
            out,
            device,
            threshold,
            min_area_m2,
            progress=progress,
        )
    return {
        "region": region.name,
        "model": p.info.model,
        "checkpoint": str(checkpoint),
        "dataset_version": p.info.dataset_version,
        "probability": str(p.probability),
        "polygons": str(p.polygons),
        "landslides": len(p.landslides),
        "area_km2": p.area_m2 / 1e6,
    }


@flow(name="map-event")
def map_event(
    checkpoint: Path,
    region: Path,
    out: Path,
    source: SourceKind = SourceKind.LOCAL,
    raw: Path | None = None,
    device: Device = Device.AUTO,
    threshold: float = 0.5,
    min_area_m2: float | None = None,
) -> dict:
    """Map the landslides of ``region`` with ``checkpoint``; results in ``out``.

    ``min_area_m2`` defaults to the region's ``annotation.min_area_m2`` (the smallest label).
    The checkpoint and the region file are checked before anything is fetched.
    """
    from landslide4sense.training.checkpoint import check_checkpoint

    checkpoint, region, out = Path(checkpoint), Path(region), Path(out)
    check_output(out, "maps")  # a user's folder is refused before anything is written
    info = check_checkpoint(checkpoint)  # a foreign or damaged file fails here, before any work
    spec = load_region(region)
    claim_output(out, "maps")
    work = out / STATE_DIR
    grid = region_grid(spec)
    layers = fetch_layers(spec, grid, source, raw, work)
    terrain = make_terrain(spec, grid, layers, work)
    area = spec.annotation.min_area_m2 if min_area_m2 is None else min_area_m2
    result = apply_model(checkpoint, spec, layers, terrain, out, device, threshold, area)
    create_markdown_artifact(
        f"# Landslides of {spec.name}\n\n{info.model} (trained on dataset version "
        f"`{info.dataset_version}`, {info.iteration} iterations): {result['landslides']} "
        f"polygons, {result['area_km2']:.3f} km2 at probability >= {threshold}.\n\n"
        f"- probability: `{result['probability']}`\n- polygons: `{result['polygons']}`\n",
        key="map-event",
        description=f"landslides of {spec.name}",
    )
    return result
