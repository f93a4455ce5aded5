"""The benchmark's Croissant metadata (``croissant.json``): what ML tools read to load it.

Croissant 1.0 (MLCommons) describes a dataset in JSON-LD on top of schema.org: its files
(``distribution``) and its records (``recordSet``). Ours lists ``manifest.csv`` (with its
sha256) and the HDF5 patches as file sets, and one record per patch whose fields are the
manifest's columns; the ``split`` field refers to Croissant's standard split names, so tools
that know them (Hugging Face, TFDS, mlcroissant) map train, validation and test themselves.
Every path is relative to the benchmark folder.
"""

from __future__ import annotations

from landslide4sense.choices import Split
from landslide4sense.layout import SPLIT_DIRS, SPLIT_FILES
from landslide4sense.patching.card import CITATION
from landslide4sense.records import DatasetMeta, ManifestRow

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
#: The JSON-LD context of Croissant 1.0, as its specification gives it.
CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
#: Croissant's standard split of each of our split names.
SPLIT_URLS = {
    Split.TRAIN: "cr:TrainingSplit",
    Split.VAL: "cr:ValidationSplit",
    Split.TEST: "cr:TestSplit",
}
#: What each manifest column means (their types come from :class:`ManifestRow`).
MANIFEST_COLUMNS = {
    "id": "patch id: <split>_<N>",
    "split": "train, val or test",
    "index": "N: the patch's number in its split (from 1)",
    "image": "image file, relative to the benchmark folder",
    "mask": "mask file, relative to the benchmark folder",
    "region": "the event region the patch was cut from",
    "tile_row": "tile row in the region's grid",
    "tile_col": "tile column in the region's grid",
    "xmin": "western bound, metres in the patch's CRS",
    "ymin": "southern bound, metres in the patch's CRS",
    "xmax": "eastern bound, metres in the patch's CRS",
    "ymax": "northern bound, metres in the patch's CRS",
    "crs": "the patch's CRS (the region's UTM zone)",
    "landslide_fraction": "share of landslide pixels in the mask",
    "scene_ids": "Sentinel-2 scenes of the composite, separated by ';'",
    "scene_dates": "their dates, separated by ';'",
    "source": "where the Sentinel-2 bands came from",
    "sha256": "sha256 of the image and mask arrays",
    "version": "the dataset version (content hash)",
}
DATA_TYPES = {int: "sc:Integer", float: "sc:Float"}  # anything else is text
HDF5 = "application/x-hdf5"


def _file_set(name: str, folder: str, what: str, splits: list[str]) -> dict:
    return {
        "@type": "cr:FileSet",
        "@id": name,
        "name": name,
        "description": what,
        "encodingFormat": HDF5,
        "includes": [f"{SPLIT_DIRS[s]}/{folder}/*.h5" for s in splits],
    }


def _split_files(meta: DatasetMeta, splits: list[str]) -> list[dict]:
    """The file set of the split files (``TrainData.h5``...), where the layout has them: what
    the Hugging Face Hub's loader reads (the card's ``configs``)."""
    if not meta.layout.split_files:
        return []
    return [
        {
            "@type": "cr:FileSet",
            "@id": "split-files",
            "name": "split-files",
            "description": "one file per split: 'img' (N, 128, 128, 14) float32, 'mask' "
            "(N, 128, 128) uint8 and 'number' (N,), the N of each patch's own files",
            "encodingFormat": HDF5,
            "includes": [SPLIT_FILES[s] for s in splits],
        }
    ]


def _field(column: str) -> dict:
    data_type = DATA_TYPES.get(ManifestRow.model_fields[column].annotation, "sc:Text")
    field = {
        "@type": "cr:Field",
        "@id": f"patches/{column}",
        "name": column,
        "description": MANIFEST_COLUMNS[column],
        "dataType": data_type,
        "source": {"fileObject": {"@id": "manifest.csv"}, "extract": {"column": column}},
    }
    if column == "split":
        field["references"] = {"field": {"@id": "splits/name"}}
    return field


def croissant(
    meta: DatasetMeta, manifest_sha256: str, licence_url: str, splits: list[Split]
) -> dict:
    """The Croissant JSON-LD of a benchmark.

    Args:
        meta: the benchmark's ``dataset.json``.
        manifest_sha256: sha256 of ``manifest.csv`` as published.
        licence_url: the patches' licence (a URL, e.g. an SPDX licence page).
        splits: the splits the benchmark has (``train``, ``val``, ``test``).
    """
    # Croissant wants MAJOR.MINOR.PATCH: the count of published versions of this folder,
    # with the content hash (our version) as build metadata.
    semver = f"{len(meta.history) + 1}.0.0+{meta.version}"
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": "landslide4sense-rebuilt",
        "alternateName": meta.name,
        "description": (
            "Landslide detection patches in the layout of the Landslide4Sense release "
            "(Ghorbanzadeh et al., IEEE TGRS 2022): 14 bands (Sentinel-2 B1-B12 without B8A, "
            "slope, DEM), 128 x 128 px at 10 m, HDF5 dataset 'img' (float32, channels last) "
            "and a binary mask (dataset 'mask', uint8, 1 = landslide). See card.md."
        ),
        "version": semver,
        "datePublished": meta.created.isoformat(),
        "license": licence_url,
        "url": "card.md",
        "citeAs": CITATION,
        "keywords": ["landslide", "Sentinel-2", "remote sensing", "semantic segmentation"],
        "isAccessibleForFree": True,
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": "manifest.csv",
                "name": "manifest.csv",
                "description": "one row per patch",
                "contentUrl": "manifest.csv",
                "encodingFormat": "text/csv",
                "sha256": manifest_sha256,
            },
            _file_set(
                "images", "img", "image patches: dataset 'img', float32 (128, 128, 14)", splits
            ),
            _file_set("masks", "mask", "label patches: dataset 'mask', uint8 (128, 128)", splits),
            *_split_files(meta, splits),
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "splits",
                "name": "splits",
                "description": "the benchmark's splits",
                "dataType": "cr:Split",
                "key": {"@id": "splits/name"},
                "field": [
                    {
                        "@type": "cr:Field",
                        "@id": "splits/name",
                        "name": "name",
                        "dataType": "sc:Text",
                    },
                    {"@type": "cr:Field", "@id": "splits/url", "name": "url", "dataType": "sc:URL"},
                ],
                "data": [{"splits/name": str(s), "splits/url": SPLIT_URLS[s]} for s in splits],
            },
            {
                "@type": "cr:RecordSet",
                "@id": "patches",
                "name": "patches",
                "description": "one record per patch (the rows of manifest.csv)",
                "key": {"@id": "patches/id"},
                "field": [_field(c) for c in MANIFEST_COLUMNS],
            },
        ],
    }
