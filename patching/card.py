"""The dataset card: what a person reads before using a built benchmark."""

from __future__ import annotations

SOURCE_LICENCES = {
    "Sentinel-2": "Contains modified Copernicus Sentinel data (free, full and open access; "
    "Copernicus Sentinel Data Terms and Conditions).",
    "asf-palsar-rtc": "ALOS PALSAR radiometric-terrain-corrected DEM (an SRTM/NED derivative) "
    "via the Alaska Satellite Facility: 'Includes Material (c) JAXA/METI [year]; ASF DAAC'.",
    "srtm": "NASA SRTM GL1 v3 (USGS/SRTMGL1_003): public domain.",
    "aw3d30": "JAXA ALOS World 3D 30 m (AW3D30): (c) JAXA, free of charge with attribution.",
    "local": "DEM from a local file: see the provider's licence.",
}

SCALING_TEXT = {
    "l4s": "Each band is divided by the original release's fixed per-band constant, so models "
    "trained on the original data apply.",
    "raw": "Values are in source units (DN, degrees, metres).",
}

CITATION = """@article{ghorbanzadeh2022landslide4sense,
  title   = {Landslide4Sense: Reference Benchmark Data and Deep Learning Models for Landslide
             Detection},
  author  = {Ghorbanzadeh, Omid and Xu, Yonghao and Ghamisi, Pedram and Kopp, Michael and
             Kreil, David},
  journal = {IEEE Transactions on Geoscience and Remote Sensing},
  volume  = {60},
  year    = {2022},
  doi     = {10.1109/TGRS.2022.3215209}
}"""


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_card(meta: dict) -> str:
    """Markdown card of a benchmark from its ``dataset.json`` content."""
    regions = meta["regions"]
    counts = _table(
        [
            "region",
            "train",
            "test",
            "landslide % (train)",
            "landslide % (test)",
            "dropped: missing data",
            "dropped: outside AOI",
        ],
        [
            [
                r["name"],
                r["train"]["patches"],
                r["test"]["patches"],
                f"{100 * r['train']['landslide_share']:.2f}",
                f"{100 * r['test']['landslide_share']:.2f}",
                r["dropped"].get("nodata", 0),
                r["dropped"].get("outside_aoi", 0),
            ]
            for r in regions
        ]
        + [["**all**", meta["counts"]["train"], meta["counts"]["test"], "", "", "", ""]],
    )
    bands = _table(
        ["channel", "band", "units", "divided by", "train mean", "train std"],
        [
            [i + 1, b, u, f"{d:.6g}", f"{m:.4f}", f"{s:.4f}"]
            for i, (b, u, d, m, s) in enumerate(
                zip(
                    meta["bands"],
                    meta["units"],
                    meta["scale_divisors"],
                    meta["train_mean"],
                    meta["train_std"],
                    strict=True,
                )
            )
        ],
    )
    label_rows = []
    for r in regions:
        lab = r["labels"]
        edits = lab.get("corrections") or {}
        label_rows.append([
            r["name"], lab.get("source", ""), lab.get("layer") or "", lab.get("features_read", ""),
            lab.get("invalid_repaired", ""), lab.get("empty_dropped", ""),
            lab.get("slivers_dropped", ""), lab.get("polygons", ""),
            f"{lab.get('area_m2', 0) / 1e6:.3f}",
            *(edits.get(k, "") for k in ("candidates", "added", "deleted", "reshaped")),
        ])  # fmt: skip
    labels = _table(
        ["region", "label file", "layer", "features", "repaired", "empty dropped",
         "slivers dropped", "polygons", "area (km2)", "OBIA candidates", "added", "deleted",
         "reshaped"],
        label_rows,
    )  # fmt: skip
    sources = []
    for r in regions:
        scenes = ", ".join(f"{s['id']} ({s.get('date') or 'date unknown'})" for s in r["scenes"])
        details = "; ".join(f"{k}: {v}" for k, v in sorted(r.get("details", {}).items()))
        event = r.get("event") or {}
        imagery = r.get("imagery") or {}
        sources.append(
            f"- **{r['name']}**: {event.get('trigger', '?')} of {event.get('date', '?')}; "
            f"imagery window {imagery.get('start', '?')} to {imagery.get('end', '?')}; "
            f"source `{r['source']}`; DEM `{r.get('dem')}`; grid {r['grid']['crs']} "
            f"{r['grid']['width']} x {r['grid']['height']} px at 10 m.\n"
            f"  Scenes: {scenes or 'none recorded'}.\n  {details}\n"
            f"  Notes: {r.get('notes') or ''}"
        )
    dems = sorted({r.get("dem") or "local" for r in regions})
    licences = [SOURCE_LICENCES["Sentinel-2"]] + [SOURCE_LICENCES.get(d, d) for d in dems]
    history = (
        "\n".join(f"- {h['version']} ({h.get('created')})" for h in meta["history"]) or "- none"
    )
    return f"""# {meta["name"]}, version `{meta["version"]}`

Landslide detection patches in the layout of the original Landslide4Sense release
(Ghorbanzadeh et al., IEEE TGRS 2022): `TrainData/img/image_N.h5` (dataset `img`, float32,
{meta["patch_size"]} x {meta["patch_size"]} x 14, channels last) with `TrainData/mask/mask_N.h5`
(dataset `mask`, uint8, 1 = landslide), and the same under `TestData/`. Built {meta["created"]}
by landslide4sense {meta["code_version"]}. `manifest.csv` has one row per patch (region, tile,
bounds, CRS, landslide fraction, source scenes, checksum, version).

## Counts
{counts}

Split: {meta["split_rule"]} (the paper's rule). Tiles are 128 x 128 px without overlap; a tile with
any missing pixel in any band is dropped.

## Bands
Scaling: **{meta["scaling"]}**. {SCALING_TEXT[meta["scaling"]]}
Resampling to 10 m: {meta["resampling"]}. Slope is computed with richdem (Horn) on the DEM at
its native resolution in a metric CRS, then resampled. Train mean/std are over the training
split, after scaling (training standardises with these).

{bands}

## How it was built
1. Each region's YAML gives its AOI, event and post-event imagery window; its grid is the UTM
   zone of the AOI centroid at 10 m, origin snapped to 10 m.
2. Sentinel-2 L1C bands (B1..B12 without B8A), the DEM and its slope are reprojected onto that
   grid; the label polygons are repaired, reprojected and rasterized onto it.
3. The 14-band stack is cut into tiles; each region's tiles are split and numbered.

## Labels
Candidates, added, deleted and reshaped count the manual corrections of OBIA candidates
(`l4s annotate merge`), when the labels were made that way.

{labels}

## Sources and provenance
{chr(10).join(sources)}

## Licences
{chr(10).join(f"- {x}" for x in licences)}
- Label polygons: see each region's notes; the original inventories' licences apply.
- The patches are derived data; keep the attributions above when you share them.

## Known differences from the original release
- The authors never published their AOIs: the regions are approximations from the paper's
  figures (each region YAML says so).
- Patches are float32 (the original release stored float64).

## Previous versions
{history}

## Figures
![sample patches](figures/sample_patches.png)
![band values](figures/band_values.png)
![landslide share](figures/landslide_share.png)

## How to cite
```bibtex
{CITATION}
```
"""
