"""The dataset card: what a person reads before using a built benchmark."""

from __future__ import annotations

from importlib.resources import files

from landslide4sense.choices import DemKind, Scaling, Split
from landslide4sense.layout import SPLIT_DIRS
from landslide4sense.records import DatasetMeta, LabelReport
from landslide4sense.regions.schema import DEFAULT_LICENCE

SOURCE_LICENCES = {
    "Sentinel-2": "Contains modified Copernicus Sentinel data (free, full and open access; "
    "Copernicus Sentinel Data Terms and Conditions).",
    DemKind.ASF_PALSAR_RTC: "ALOS PALSAR radiometric-terrain-corrected DEM (an SRTM/NED "
    "derivative) from the Alaska Satellite Facility; ASF asks for 'ASF DAAC <year processed>; "
    "Includes Material (c) JAXA/METI <year acquired>', the years of the granules used (see "
    "Sources).",
    DemKind.SRTM: "NASA SRTM GL1 v3 (USGS/SRTMGL1_003): public domain.",
    DemKind.AW3D30: "JAXA ALOS World 3D 30 m (AW3D30): (c) JAXA, free of charge with attribution.",
    DemKind.LOCAL: "DEM from a local file: see the provider's licence.",
}

SCALING_TEXT = {
    Scaling.L4S: "Each band is divided by the original release's fixed per-band constant, so "
    "models trained on the original data apply.",
    Scaling.RAW: "Values are in source units (DN, degrees, metres).",
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


def citation(meta: DatasetMeta) -> str:
    """BibTeX of the paper, and of the tool with its version and this dataset's version."""
    year = meta.created.year
    tool = f"""@software{{landslide4sense_rebuilt_{meta.version},
  title   = {{landslide4sense: a reproducible rebuild of the Landslide4Sense benchmark}},
  version = {{{meta.code_version}}},
  year    = {{{year}}},
  license = {{GPL-3.0-or-later}},
  note    = {{Dataset version {meta.version} ({meta.name}), built {meta.created.date()}}}
}}"""
    return f"{CITATION}\n\n{tool}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_card(meta: DatasetMeta) -> str:
    """Markdown card of a benchmark from its ``dataset.json`` content: the front matter, then
    the text of ``patching/templates/card.md`` (package data) with its fields filled in."""
    valid = ", `ValidData/` (validation, held out of `TrainData/`)" if meta.counts.val else ""
    history = "\n".join(f"- {h.version} ({h.created.isoformat()})" for h in meta.history)
    renumbered = "\n".join(f"- {r}" for r in meta.renumbered)
    fields = {
        "name": meta.name,
        "version": meta.version,
        "patch_size": meta.patch_size,
        "valid": valid,
        "built": meta.created.isoformat(),
        "code_version": meta.code_version,
        "usage": usage_section(meta),
        "counts": counts_table(meta),
        "split_rule": meta.split_rule,
        "scaling": meta.scaling,
        "scaling_text": SCALING_TEXT[meta.scaling],
        "resampling": meta.resampling,
        "bands": bands_table(meta),
        "labels": labels_table(meta),
        "sources": sources_section(meta),
        "limitations": "\n".join(f"- {note}" for note in limitations(meta)),
        "licences": licence_section(meta),
        "renumbered": renumbered or "- none: every region kept its numbers",
        "history": history or "- none",
        "citation": citation(meta),
    }
    return front_matter(meta) + card_template().format(**fields)


def card_template() -> str:
    """The card's text with ``{field}`` places (package data: ``templates/card.md``)."""
    return files("landslide4sense.patching").joinpath("templates/card.md").read_text()


def counts_table(meta: DatasetMeta) -> str:
    """Patches and landslide share per region and split, and the tiles dropped."""
    splits = _splits(meta)
    return _table(
        [
            "region",
            *splits,
            *(f"landslide % ({s})" for s in splits),
            "dropped: missing data",
            "dropped: outside AOI",
        ],
        [
            [
                r.name,
                *(getattr(r, s).patches for s in splits),
                *(f"{100 * getattr(r, s).landslide_share:.2f}" for s in splits),
                r.dropped.nodata,
                r.dropped.outside_aoi,
            ]
            for r in meta.regions
        ]
        + [["**all**", *(getattr(meta.counts, s) for s in splits), *[""] * (len(splits) + 2)]],
    )


def bands_table(meta: DatasetMeta) -> str:
    """Each channel: band, units, scale divisor and the training split's mean and std."""
    return _table(
        ["channel", "band", "units", "divided by", "train mean", "train std"],
        [
            [i + 1, b, u, f"{d:.6g}", f"{m:.4f}", f"{s:.4f}"]
            for i, (b, u, d, m, s) in enumerate(
                zip(
                    meta.bands,
                    meta.units,
                    meta.scale_divisors,
                    meta.train_mean,
                    meta.train_std,
                    strict=True,
                )
            )
        ],
    )


def labels_table(meta: DatasetMeta) -> str:
    """Each region's label file, what its repair dropped, and its manual corrections."""
    rows = []
    for r in meta.regions:
        lab = r.labels or LabelReport(source="", crs="")
        edits = lab.corrections
        merged = [edits.candidates, edits.added, edits.deleted, edits.reshaped] if edits else []
        rows.append(
            [
                r.name,
                lab.source,
                lab.layer or "",
                lab.features_read,
                lab.invalid_repaired,
                lab.empty_dropped,
                lab.slivers_dropped,
                lab.polygons,
                f"{lab.area_m2 / 1e6:.3f}",
                *(merged or [""] * 4),
            ]
        )
    return _table(
        [
            "region",
            "label file",
            "layer",
            "features",
            "repaired",
            "empty dropped",
            "slivers dropped",
            "polygons",
            "area (km2)",
            "OBIA candidates",
            "added",
            "deleted",
            "reshaped",
        ],
        rows,
    )


def sources_section(meta: DatasetMeta) -> str:
    """Each region's event, imagery window, sources, grid, scenes and notes."""
    sources = []
    for r in meta.regions:
        scenes = ", ".join(f"{s.id} ({s.date or 'date unknown'})" for s in r.scenes)
        details = "; ".join(f"{k}: {v}" for k, v in sorted(r.details.items()))
        event = f"{r.event.trigger} of {r.event.date}" if r.event else "? of ?"
        window = f"{r.imagery.start} to {r.imagery.end}" if r.imagery else "? to ?"
        sources.append(
            f"- **{r.name}**: {event}; imagery window {window}; source `{r.source}`; "
            f"DEM `{r.dem}`; grid {r.grid.crs} {r.grid.width} x {r.grid.height} px at 10 m.\n"
            f"  Scenes: {scenes or 'none recorded'}.\n  {details}\n"
            f"  Notes: {r.notes}"
        )
    return "\n".join(sources)


# --- What the card says beyond the tables: front matter, usage, limitations, licence. ---

#: The original code's loader (iarai/Landslide4Sense-2022, ``LandslideDataSet``) standardises
#: every patch with these fixed per-band values, computed on the original release.
ORIGINAL_LOADER_MEAN = (
    -0.4914,
    -0.3074,
    -0.1277,
    -0.0625,
    0.0439,
    0.0803,
    0.0644,
    0.0802,
    0.3000,
    0.4082,
    0.0823,
    0.0516,
    0.3338,
    0.7819,
)
ORIGINAL_LOADER_STD = (
    0.9325,
    0.8775,
    0.8860,
    0.8869,
    0.8857,
    0.8418,
    0.8354,
    0.8491,
    0.9061,
    1.6072,
    0.8848,
    0.9232,
    0.9018,
    1.2913,
)
#: SPDX ids that the Hugging Face Hub knows under their lower-case name.
HUB_LICENCES = {
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC-BY-NC-4.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-ND-4.0",
    "CC-BY-NC-ND-4.0",
    "CC0-1.0",
    "MIT",
    "Apache-2.0",
    "ODbL-1.0",
    "PDDL-1.0",
    "ODC-By-1.0",
    "GPL-3.0",
    "CDLA-Permissive-2.0",
}
HUB_LICENCE_NAMES = {"ODbL-1.0": "odbl", "PDDL-1.0": "pddl", "ODC-By-1.0": "odc-by"}
TAGS = [
    "remote-sensing",
    "earth-observation",
    "satellite-imagery",
    "sentinel-2",
    "landslide",
    "natural-hazards",
    "geospatial",
    "hdf5",
]
#: A split's landslide share this many times another's (in one region) is worth a warning.
SHARE_RATIO_WARNING = 1.5


def patches_licence(licences: list[str]) -> str:
    """The licence of a benchmark's patches: the regions' one when they agree, else
    ``other`` (the card then lists each region's)."""
    return licences[0] if len(set(licences)) == 1 else "other"


def licence_url(spdx: str) -> str:
    """The SPDX page of a licence id (``other``: the card's licence section)."""
    return f"https://spdx.org/licenses/{spdx}.html" if spdx != "other" else "card.md#licences"


def size_category(n: int) -> str:
    """The Hugging Face ``size_categories`` bucket of ``n`` examples."""
    buckets = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ]
    return next((name for limit, name in buckets if n < limit), "10M<n<100M")


def _splits(meta: DatasetMeta) -> list[str]:
    return ["train", "val", "test"] if meta.counts.val else ["train", "test"]


def front_matter(meta: DatasetMeta) -> str:
    """The card's YAML header in the Hugging Face dataset-card format."""
    import yaml

    header: dict = {"pretty_name": meta.name}
    if meta.licence in HUB_LICENCES:
        header["license"] = HUB_LICENCE_NAMES.get(meta.licence, meta.licence.lower())
    else:  # the Hub's way of naming any other licence
        header |= {
            "license": "other",
            "license_name": meta.licence.lower(),
            "license_link": licence_url(meta.licence),
        }
    total = sum(getattr(meta.counts, s) for s in _splits(meta))
    header |= {
        "task_categories": ["image-segmentation"],
        "task_ids": ["semantic-segmentation"],
        "size_categories": [size_category(total)],
        "annotations_creators": ["expert-generated"],
        "source_datasets": ["original"],
        "tags": TAGS,
        "configs": hub_configs(meta),
    }
    return f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n"


#: The Hugging Face Hub's split names of ours.
HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}


def hub_configs(meta: DatasetMeta) -> list[dict]:
    """The card's ``configs``: what ``datasets.load_dataset`` reads from the folder.

    ``patches``: the split files (``TrainData.h5``...: ``img`` (128, 128, 14) float32 and
    ``mask`` (128, 128) per row), default where the layout has them. The per-patch files hold
    one patch each as 128 rows of 14 values for its HDF5 reader, so without split files the
    default is ``manifest`` (one row per patch), never the STAC items it would guess.
    """
    manifest = {"config_name": "manifest", "data_files": "manifest.csv"}
    if not meta.layout.split_files:
        return [{**manifest, "default": True}]
    files = [{"split": HUB_SPLITS[s], "path": f"{SPLIT_DIRS[Split(s)]}.h5"} for s in _splits(meta)]
    return [{"config_name": "patches", "data_files": files, "default": True}, manifest]


def original_loader_means(meta: DatasetMeta) -> list[float]:
    """Per-band mean of the training split after the original loader's standardisation (its
    fixed values): far from 0 when they do not fit these patches."""
    return [
        (m - om) / os
        for m, om, os in zip(
            meta.train_mean, ORIGINAL_LOADER_MEAN, ORIGINAL_LOADER_STD, strict=True
        )
    ]


def usage_section(meta: DatasetMeta) -> str:
    """How to load the benchmark: TorchGeo, the original code's loader, h5py, the index."""
    off = original_loader_means(meta)
    lo, hi = min(range(len(off)), key=off.__getitem__), max(range(len(off)), key=off.__getitem__)
    drift = f"between {off[lo]:+.2f} ({meta.bands[lo]}) and {off[hi]:+.2f} ({meta.bands[hi]})"
    val = (
        "`ValidData/` holds the validation patches (the last tenth of each region's training "
        "tiles, not in `TrainData/`), so all three splits load."
        if meta.counts.val
        else 'this benchmark has no `ValidData/`: `split="val"` needs one built with `--valid`.'
    )
    n_train, n_test = meta.counts.train, meta.counts.test
    return f"""## How to use it
Every path below is relative to this folder (`root`). Models standardise with the training
split's per-band `train_mean` / `train_std` in `dataset.json` (after scaling).

**TorchGeo** (`torchgeo.datasets.Landslide4Sense`, torchgeo's main branch): {val} TorchGeo
returns masks for `train` only; the test masks are in `TestData/mask/`.

```python
import json
import torch
from torchgeo.datasets import Landslide4Sense

root = "."  # this folder
meta = json.load(open(f"{{root}}/dataset.json"))
mean = torch.tensor(meta["train_mean"])[:, None, None]
std = torch.tensor(meta["train_std"])[:, None, None]

def standardise(sample):
    sample["image"] = (sample["image"] - mean) / std
    return sample

train = Landslide4Sense(root, split="train", transforms=standardise)  # image and mask
val = Landslide4Sense(root, split="val", transforms=standardise)  # built with --valid
test = Landslide4Sense(root, split="test", transforms=standardise)
```

**The original code's loader** (`LandslideDataSet` of iarai/Landslide4Sense-2022) reads these
patches through a list of file names, but standardises them with fixed values computed on the
original release: on this benchmark they leave the training split's band means {drift}, not 0.
Give it this benchmark's statistics:

```python
import json
from dataset.landslide_dataset import LandslideDataSet  # run from its repository

root = "path/to/this/folder/"  # with the trailing slash: the loader appends file names
meta = json.load(open(root + "dataset.json"))
with open("ours_train.txt", "w") as f:  # one line per patch ({n_train} train, {n_test} test)
    f.writelines(f"TrainData/img/image_{{i}}.h5\\n" for i in range(1, {n_train} + 1))
train = LandslideDataSet(root, "ours_train.txt")
train.mean, train.std = meta["train_mean"], meta["train_std"]
```

**h5py**, and where each patch lies (`patches.parquet`: footprints in EPSG:4326 with every
`manifest.csv` column; `stac/collection.json`: one STAC item per patch):

```python
import geopandas as gpd
import h5py

with h5py.File("TrainData/img/image_1.h5") as f:
    image = f["img"][()]  # float32 (128, 128, 14), channels last
with h5py.File("TrainData/mask/mask_1.h5") as f:
    mask = f["mask"][()]  # uint8 (128, 128), 1 = landslide
patches = gpd.read_parquet("patches.parquet")  # patches.gpkg: the same for any GIS
```

`croissant.json` describes the files and records for Croissant readers (`mlcroissant`)."""


def limitations(meta: DatasetMeta) -> list[str]:
    """What a user of this benchmark should know before trusting a score on it."""
    notes = []
    for r in meta.regions:
        train, test = 100 * r.train.landslide_share, 100 * r.test.landslide_share
        low, high = sorted((train, test))
        if high > 0 and (low == 0 or high / low >= SHARE_RATIO_WARNING):
            ratio = f"{high / low:.1f} times" if low else "infinitely"
            notes.append(
                f"**{r.name}**: {train:.2f} % of its training pixels are landslides, {test:.2f} % "
                f"of its test pixels ({ratio} as many in the "
                f"{'test' if test > train else 'training'} split). The split takes the first "
                "quarter of the region's tiles in row-major order, so the share follows where "
                "the scars are; per-region scores inherit it."
            )
    notes.append(
        "The split is spatial but contiguous: training and test tiles meet along one boundary "
        "row in each region, where neighbouring tiles are alike (spatial autocorrelation)."
    )
    if meta.split_overlaps:
        pairs = ", ".join(f"{a}/{b}" for a, b in meta.split_overlaps[:5])
        notes.append(
            f"{len(meta.split_overlaps)} pairs of patches of different splits overlap on the "
            f"ground (regions whose AOIs overlap), e.g. {pairs}: scores on them are optimistic."
        )
    notes.append(
        "Each patch is a per-pixel composite of the imagery window (Sentinel-2 L1C top-of-"
        "atmosphere), not a single scene; clouds and seasons differ between regions."
    )
    if any(r.dem == "asf-palsar-rtc" for r in meta.regions):
        notes.append(
            "ASF's RTC DEM holds ellipsoid heights (geoid-adjusted by ASF), which differ from "
            "geoid-based DEMs (SRTM, AW3D30) by the local geoid undulation."
        )
    return notes


def licence_section(meta: DatasetMeta) -> str:
    """The patches' licence (from the region files, with the default stated) and the
    attributions the sources require (ASF's with the years of its granules)."""
    own = [r.licence for r in meta.regions]
    if meta.licence == "other":
        head = (
            "The regions' licences differ, so each region's patches carry their own: "
            + ", ".join(f"{r.name} {r.licence}" for r in meta.regions)
            + "."
        )
    else:
        how = (
            "no region file names one, so the default applies"
            if all(lic == DEFAULT_LICENCE for lic in own)
            else "as the region files say"
        )
        head = f"The patches are licensed **{meta.licence}** ({licence_url(meta.licence)}): {how}."
    head += (
        f" A region file sets its own with `licence: <SPDX id>` (default {DEFAULT_LICENCE});"
        " choose what its labels' licence allows."
    )
    credits = [SOURCE_LICENCES["Sentinel-2"]]
    for dem in sorted({r.dem for r in meta.regions}):
        cited = sorted(
            {
                r.details.get("dem_citation")
                for r in meta.regions
                if r.dem == dem and r.details.get("dem_citation")
            }
        )
        credits.append(
            SOURCE_LICENCES.get(dem, str(dem)) + (f" Credit: {'; '.join(cited)}." if cited else "")
        )
    return head + "\n\n" + "\n".join(f"- {c}" for c in credits)
