"""The card's machine-readable header, usage, limitations and licence, on records in memory."""

import datetime as dt

import pytest
import yaml
from affine import Affine

from landslide4sense.geo import Grid
from landslide4sense.patching import card
from landslide4sense.records import Counts, DatasetMeta, RegionMeta, SplitCounts, SplitSummary


def summary(n: int, share: float) -> SplitSummary:
    return SplitSummary(patches=n, landslide_share=share, landslide=None, background=None)


GRID = Grid("EPSG:32654", Affine(10, 0, 0, 0, -10, 0), 1, 1)


def region(name, train_share, test_share, licence="CC-BY-4.0", dem="local", details=None):
    return RegionMeta(
        name=name,
        source="local",
        dem=dem,
        licence=licence,
        details=details or {},
        grid=GRID,
        dropped={},
        train=summary(10, train_share),
        test=summary(30, test_share),
    )


def meta(regions, licence="CC-BY-4.0", val=0, train_mean=None, overlaps=()) -> DatasetMeta:
    return DatasetMeta(
        version="abc",
        created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        code_version="0",
        patch_size=128,
        bands=[f"b{i}" for i in range(14)],
        units=["u"] * 14,
        scaling="l4s",
        scale_divisors=[1.0] * 14,
        resampling="bilinear",
        split_rule="first quarter",
        train_mean=train_mean or list(card.ORIGINAL_LOADER_MEAN),
        train_std=[1.0] * 14,
        counts=Counts(
            train=10 * len(regions),
            test=30 * len(regions),
            val=val,
            regions={r.name: SplitCounts(train=10, test=30) for r in regions},
        ),
        regions=regions,
        all={"name": "all", "train": summary(1, 0), "test": summary(1, 0)},
        licence=licence,
        split_overlaps=list(overlaps),
    )


def header(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_front_matter_is_a_hugging_face_dataset_card_header():
    h = header(card.front_matter(meta([region("a", 0.01, 0.01)])))
    assert h["license"] == "cc-by-4.0" and h["pretty_name"] == "Landslide4Sense (rebuilt)"
    assert h["task_categories"] == ["image-segmentation"]
    assert h["task_ids"] == ["semantic-segmentation"] and h["size_categories"] == ["n<1K"]
    assert {"landslide", "sentinel-2", "remote-sensing"} <= set(h["tags"])
    other = header(card.front_matter(meta([region("a", 0, 0)], licence="LicenseRef-inventory")))
    assert other["license"] == "other" and other["license_name"] == "licenseref-inventory"


@pytest.mark.parametrize(
    ("n", "bucket"),
    [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (3799, "1K<n<10K"), (10**5, "100K<n<1M")],
)
def test_size_categories(n, bucket):
    assert card.size_category(n) == bucket


def test_the_licence_is_the_regions_one_when_they_agree():
    assert card.patches_licence(["CC-BY-4.0", "CC-BY-4.0"]) == "CC-BY-4.0"
    assert card.patches_licence(["CC-BY-4.0", "CC-BY-NC-4.0"]) == "other"


def test_licence_section_states_the_default_and_asf_credit():
    asf = {"dem_citation": "ASF DAAC 2015; Includes Material \u00a9 JAXA/METI 2010"}
    text = card.licence_section(meta([region("a", 0, 0, dem="asf-palsar-rtc", details=asf)]))
    assert "**CC-BY-4.0**" in text and "no region file names one, so the default applies" in text
    assert "Credit: ASF DAAC 2015; Includes Material \u00a9 JAXA/METI 2010." in text
    assert "[year]" not in text
    mixed = meta([region("a", 0, 0), region("b", 0, 0, licence="CC-BY-NC-4.0")], "other")
    assert "a CC-BY-4.0, b CC-BY-NC-4.0" in card.licence_section(mixed)


def test_the_original_loaders_drift_is_measured_on_our_statistics():
    mean = list(card.ORIGINAL_LOADER_MEAN)
    assert card.original_loader_means(meta([region("a", 0, 0)], train_mean=mean)) == [0.0] * 14
    mean[0] += card.ORIGINAL_LOADER_STD[0]  # one standard deviation off in the first band
    drift = card.original_loader_means(meta([region("a", 0, 0)], train_mean=mean))
    assert drift[0] == pytest.approx(1.0) and drift[1:] == [0.0] * 13
    assert "between +0.00 (b1) and +1.00 (b0), not 0" in card.usage_section(
        meta([region("a", 0, 0)], train_mean=mean)
    )


def test_usage_says_whether_the_val_split_loads():
    assert "needs one built with `--valid`" in card.usage_section(meta([region("a", 0, 0)]))
    assert "all three splits load" in card.usage_section(meta([region("a", 0, 0)], val=4))


def test_limitations_name_uneven_splits_and_overlaps():
    notes = card.limitations(
        meta(
            [region("valley", 0.0078, 0.0318), region("even", 0.02, 0.021)],
            overlaps=[("test_3", "train_9")],
        )
    )
    text = "\n".join(notes)
    assert "**valley**: 0.78 % of its training pixels" in text and "4.1 times" in text
    assert "**even**" not in text
    assert "1 pairs of patches of different splits overlap" in text and "test_3/train_9" in text
