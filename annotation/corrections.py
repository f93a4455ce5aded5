"""Manual correction of candidates (the paper's Sec. III-C, step 2), in one GeoPackage.

A region's ``labels.gpkg`` holds three layers, edited in QGIS:

* ``candidates`` (written by ``l4s annotate candidates``; never edited): ``cand_id``, rule
  scores, geometry;
* ``corrections`` (the expert's edits; only appended to): ``op`` (``add``, ``delete``,
  ``reshape``), ``target`` (the ``cand_id`` for delete and reshape), ``reason``, ``editor``,
  ``edited_at`` (ISO date-time), and the new geometry for add and reshape;
* ``labels`` (written by ``l4s annotate merge``): the candidates with the corrections applied
  in ``edited_at`` order, repaired, slivers dropped, overlaps dissolved. It is what the build
  uses, and it can always be rebuilt from the two layers above.

``label_history`` (an attribute table) keeps the counts of the last merge for the dataset card.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from landslide4sense.annotation.labels import (
    clean_labels,
    history,
    layers_of,
    rasterize_labels,
    read_labels,
)
from landslide4sense.errors import EmptyResultError, InputDataError, L4SError
from landslide4sense.files import atomic_path, write_text
from landslide4sense.geo import snapped_grid
from landslide4sense.records import MergeReport

log = logging.getLogger(__name__)

OPS = ("add", "delete", "reshape")
CORRECTION_COLUMNS = ("op", "target", "reason", "editor", "edited_at")


class CorrectionsNeeded(L4SError, RuntimeError):
    """A region has candidates but no corrected labels, and does not accept candidates."""


def empty_corrections(crs) -> gpd.GeoDataFrame:
    """An empty ``corrections`` layer with its fields (so QGIS shows them)."""
    return gpd.GeoDataFrame(
        {
            "op": pd.Series(dtype=str),
            "target": pd.Series(dtype="Int64"),
            "reason": pd.Series(dtype=str),
            "editor": pd.Series(dtype=str),
            "edited_at": pd.Series(dtype=str),
        },
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


#: Layers whose geometry type is declared (an empty layer would be "Unknown", and QGIS could
#: not draw polygons in it).
GEOMETRY_TYPES = {"corrections": "Polygon"}


def write_layers(path: str | Path, layers: dict[str, pd.DataFrame]) -> Path:
    """Write layers into a GeoPackage, keeping its other layers; atomically (a copy of the
    file is written, then renamed over it)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.exists():
            shutil.copyfile(path, tmp)
        for name, frame in layers.items():
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_file(
                    tmp, layer=name, driver="GPKG", geometry_type=GEOMETRY_TYPES.get(name)
                )
            else:
                pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
    return path


def label_layer(path: str | Path, accept_candidates: bool = False) -> str | None:
    """The layer a build reads: ``labels`` when merged; ``candidates`` when the region accepts
    them; the file's only layer for plain label files.

    Raises:
        CorrectionsNeeded: candidates exist but no labels yet, and candidates are not accepted.
    """
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        return None
    names = layers_of(path)
    if "labels" in names:
        return "labels"
    if "candidates" in names:
        if accept_candidates:
            return "candidates"
        raise CorrectionsNeeded(
            f"{path} holds OBIA candidates but no corrected labels yet. Correct them: open it "
            "in QGIS, add rows to its `corrections` layer (op add / delete / reshape, target = "
            "cand_id, reason, editor, edited_at; draw the geometry for add and reshape), then "
            f"run `l4s annotate merge {path}` and build again. To use the candidates as they "
            "are, set `annotation: {accept_candidates: true}` in the region file."
        )
    return None


def _cand_id(target) -> int | None:
    """A correction's ``target`` as a candidate id, or None when it is not a whole number."""
    try:
        value = float(target)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() else None


def _check(corrections: gpd.GeoDataFrame, ids: set[int], path: Path) -> None:
    missing = [c for c in CORRECTION_COLUMNS if c not in corrections.columns]
    if missing:
        raise InputDataError(f"{path}: layer corrections lacks field(s) {', '.join(missing)}")
    for i, row in corrections.reset_index(drop=True).iterrows():
        where = f"{path}: corrections row {i + 1}"
        if row["op"] not in OPS:
            raise InputDataError(f"{where}: op is {row['op']!r}; use one of {', '.join(OPS)}")
        if row["op"] != "add" and _cand_id(row["target"]) not in ids:
            raise InputDataError(
                f"{where}: {row['op']} needs target = the cand_id of an existing candidate, "
                f"found {row['target']!r}"
            )
        if row["op"] != "delete" and (row.geometry is None or row.geometry.is_empty):
            raise InputDataError(f"{where}: {row['op']} needs a geometry; draw it in QGIS")
        for field in ("reason", "editor", "edited_at"):
            if pd.isna(row[field]) or not str(row[field]).strip():
                raise InputDataError(f"{where}: field {field} is empty; every edit needs it")
        try:
            dt.datetime.fromisoformat(str(row["edited_at"]))
        except ValueError as err:
            raise InputDataError(
                f"{where}: edited_at {row['edited_at']!r} is not an ISO date-time "
                "(like 2026-11-24T10:30:00)"
            ) from err


def apply_corrections(
    candidates: gpd.GeoDataFrame, corrections: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    """The candidates with the corrections applied in ``edited_at`` order (then row order).

    Returns:
        Polygons with ``source`` ("cand:<id>" or "add:<row>"), and the count of each op.
    """
    current = {
        f"cand:{int(c)}": g for c, g in zip(candidates["cand_id"], candidates.geometry, strict=True)
    }
    order = corrections.assign(row_no=np.arange(len(corrections))).sort_values(
        ["edited_at", "row_no"], kind="stable"
    )
    counts = dict.fromkeys(OPS, 0)
    for row in order.itertuples():
        counts[row.op] += 1
        if row.op == "add":
            current[f"add:{row.row_no + 1}"] = row.geometry
        elif row.op == "delete":
            current.pop(f"cand:{_cand_id(row.target)}", None)
        else:
            current[f"cand:{_cand_id(row.target)}"] = row.geometry
    out = gpd.GeoDataFrame(
        {"source": list(current)}, geometry=list(current.values()), crs=candidates.crs
    )
    return out, counts


def check_merge(path: str | Path) -> list[str]:
    """The layers of a file ``merge`` may rebuild the ``labels`` layer of: one with candidates,
    whose ``labels`` layer (if any) an earlier merge wrote (it left ``label_history``).

    Raises:
        InputDataError: no candidates, or a ``labels`` layer the tool did not write (an
            inventory: never rebuilt).
    """
    path = Path(path)
    names = layers_of(path)
    if "candidates" not in names:
        raise InputDataError(f"{path}: no candidates layer; run `l4s annotate candidates` first")
    if "labels" in names and "label_history" not in names:
        raise InputDataError(
            f"{path}: its labels layer was not written by `l4s annotate merge` (an inventory "
            "of yours: it stays as it is); merge a copy whose labels layer is removed, or "
            "rename that layer"
        )
    return names


def merge(path: str | Path, min_area_m2: float = 100.0) -> MergeReport:
    """Rebuild the ``labels`` layer from ``candidates`` and ``corrections``.

    Raises:
        InputDataError: a correction is incomplete or points at an unknown candidate; or the
            file is not one merge may rebuild (:func:`check_merge`).
    """
    path = Path(path)
    names = check_merge(path)
    candidates = read_labels(path, "candidates")
    corrections = (
        read_labels(path, "corrections")
        if "corrections" in names
        else empty_corrections(candidates.crs)
    )
    corrections = corrections.to_crs(candidates.crs)
    _check(corrections, set(candidates["cand_id"].astype(int)), path)
    edited, counts = apply_corrections(candidates, corrections)
    clean, rep = clean_labels(edited, str(candidates.crs), min_area_m2, str(path))
    merged = shapely.union_all(clean.geometry.values) if len(clean) else None
    parts = list(shapely.get_parts(merged)) if merged is not None else []
    labels = gpd.GeoDataFrame(geometry=parts, crs=candidates.crs)
    if len(labels):
        c = labels.geometry.centroid
        labels = labels.iloc[np.lexsort((c.x.values, -c.y.values))].reset_index(drop=True)
        tree = shapely.STRtree(clean.geometry.values)
        labels["sources"] = [
            ",".join(sorted(clean["source"].iloc[tree.query(g, "intersects")]))
            for g in labels.geometry
        ]
    else:
        labels["sources"] = pd.Series(dtype=str)
    labels.insert(0, "label_id", np.arange(1, len(labels) + 1))
    report = MergeReport(
        candidates=len(candidates),
        added=counts["add"],
        deleted=counts["delete"],
        reshaped=counts["reshape"],
        labels=len(labels),
        invalid_repaired=rep.invalid_repaired,
        slivers_dropped=rep.slivers_dropped,
        overlaps_dissolved=len(clean) - len(labels),
        area_m2=rep.area_m2,
        merged_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    history = pd.DataFrame([report.model_dump()])
    write_layers(
        path, {"labels": labels[["label_id", "sources", "geometry"]], "label_history": history}
    )
    log.info(
        "%s: %d candidates, %d added, %d deleted, %d reshaped -> %d labels",
        path.name,
        report.candidates,
        report.added,
        report.deleted,
        report.reshaped,
        report.labels,
    )
    return report


def agreement(path: str | Path, resolution: float = 10.0) -> dict:
    """Pixel agreement of candidates (as proposed) and labels (as corrected), and the edits.

    Raises:
        InputDataError: the file lacks candidates or labels.
    """
    path = Path(path)
    names = layers_of(path)
    for needed, how in (
        ("candidates", "l4s annotate candidates"),
        ("labels", "l4s annotate merge"),
    ):
        if needed not in names:
            raise InputDataError(f"{path}: no {needed} layer; run `{how} {path}` first")
    cand, lab = read_labels(path, "candidates"), read_labels(path, "labels")
    if not cand.crs.is_projected:
        raise InputDataError(f"{path}: candidates must be in a metric CRS, found {cand.crs}")
    lab = lab.to_crs(cand.crs)
    both = pd.concat([cand.geometry, lab.geometry])
    if both.empty:
        raise EmptyResultError(f"{path}: neither candidates nor labels hold a polygon")
    grid = snapped_grid(str(cand.crs), tuple(both.total_bounds), resolution)
    shape = (grid.height, grid.width)

    def raster(geometries) -> np.ndarray:
        return rasterize_labels(geometries, grid.transform, shape).astype(bool)

    c, t = raster(cand.geometry.values), raster(lab.geometry.values)
    sources = cand["source"].fillna("obia") if "source" in cand else pd.Series(["obia"] * len(cand))
    by_source = {
        name: {
            "candidates": int((sources == name).sum()),
            **_pixel_agreement(raster(cand.geometry.values[(sources == name).values]), t),
        }
        for name in sorted(sources.unique())
    }
    edits = history(path) or MergeReport()
    return {
        "file": str(path),
        "candidates": len(cand),
        "labels": len(lab),
        "added": edits.added,
        "deleted": edits.deleted,
        "reshaped": edits.reshaped,
        **_pixel_agreement(c, t),
        "by_source": by_source,
        "grid": grid,
        "maps": (c, t),
    }


def _pixel_agreement(c: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """Pixel IoU and F1 of candidate map ``c`` against label map ``t`` (1 when both empty)."""
    tp, fp, fn = int((c & t).sum()), int((c & ~t).sum()), int((~c & t).sum())
    return {
        "iou": tp / (tp + fp + fn) if tp + fp + fn else 1.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0,
    }


def write_report(paths: list[str | Path], out_dir: str | Path) -> Path:
    """``annotation_report.md`` and one PNG per file: where candidates and labels agree."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure registry

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Annotation report",
        "",
        "Agreement of the candidates (as proposed, by OBIA or a model) with the corrected "
        "labels (as merged), on a 10 m grid. Red: both; blue: removed from the candidates; "
        "green: added by the corrections.",
        "",
        "| file | candidates | labels | added | deleted | reshaped | pixel IoU | pixel F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    source_lines = [
        "",
        "## Which source proposed the candidates",
        "",
        "Each candidate's `source` (layer `candidates`): `obia`, or `model:<name>` for "
        "`l4s annotate candidates --from-model`; each source's candidates against the labels.",
        "",
        "| file | source | candidates | pixel IoU | pixel F1 |",
        "|---|---|---|---|---|",
    ]
    for path in paths:
        a = agreement(path)
        source_lines += [
            f"| {Path(path).name} | {name} | {s['candidates']} | {s['iou']:.3f} | {s['f1']:.3f} |"
            for name, s in a["by_source"].items()
        ]
        c, t = a["maps"]
        rgb = np.ones((*c.shape, 3))
        rgb[c & t], rgb[c & ~t], rgb[~c & t] = (1, 0, 0), (0, 0.3, 1), (0, 0.7, 0)
        png = out_dir / f"{Path(path).stem}_agreement.png"
        fig = Figure(figsize=(7, 7 * c.shape[0] / max(c.shape[1], 1) + 0.5))
        ax = fig.subplots()
        ax.imshow(rgb, interpolation="nearest")
        ax.set_title(f"{Path(path).name}: IoU {a['iou']:.3f}, F1 {a['f1']:.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.tight_layout()
        fig.savefig(png, dpi=100)
        lines.append(
            f"| {Path(path).name} | {a['candidates']} | {a['labels']} | {a['added']} | "
            f"{a['deleted']} | {a['reshaped']} | {a['iou']:.3f} | {a['f1']:.3f} |"
        )
        lines += ["", f"![{Path(path).stem}]({png.name})", ""]
    return write_text(out_dir / "annotation_report.md", "\n".join(lines + source_lines) + "\n")
