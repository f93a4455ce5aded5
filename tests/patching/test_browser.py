"""The benchmark browser (browse/index.html) in a real headless Chromium (Debian's package,
driven by Selenium): from file://, no console error, no network request, every patch with
its thumbnail, filters, the detail view, Table I once trained. A benchmark of the demo's size
(two regions, 41 train + 123 test patches) with seeded patches; Chromium starts once."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landslide4sense.choices import SourceKind, Split
from landslide4sense.layout import PATCH_SIZE, image_path, mask_path
from landslide4sense.patching.browser import (
    OUTLINE,
    RANGE_SAMPLE,
    PageTitle,
    band_strip,
    patch_key,
    stretch_ranges,
    thumbnail,
    write_browser,
    write_training,
)
from landslide4sense.patching.index import patch_index
from landslide4sense.records import ManifestRow
from tests.helpers import CHROMEDRIVER, CHROMIUM, headless_chromium

#: The demo's regions: (name, CRS, tiles per side, train tiles, west, north).
REGIONS = [
    ("demo-hills", "EPSG:32645", 10, 25, 300_000.0, 3_100_000.0),
    ("demo-valley", "EPSG:32633", 8, 16, 500_000.0, 5_200_000.0),
]
SIDE = PATCH_SIZE * 10.0  # metres


def landslide_side(n: int) -> int:
    """The side of the landslide square in the top-left corner of the n-th patch (0: none)."""
    return 16 * (n % 5)


def seeded_patch(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n-th patch: seeded gradients around 1000 DN (smooth, as JPEG keeps them), and a
    square landslide."""
    slopes = np.random.default_rng(n).uniform(-300, 300, (2, 14))
    rows, cols = np.mgrid[0:PATCH_SIZE, 0:PATCH_SIZE] / (PATCH_SIZE - 1)
    image = (1000 + rows[..., None] * slopes[0] + cols[..., None] * slopes[1]).astype(np.float32)
    mask = np.zeros((PATCH_SIZE, PATCH_SIZE), np.uint8)
    side = landslide_side(n)
    mask[:side, :side] = 1
    return image, mask


def demo_sized_rows() -> list[ManifestRow]:
    """Manifest rows of the demo's shape: each region's first quarter of tiles trains."""
    rows, numbers = [], {Split.TRAIN: 0, Split.TEST: 0}
    for name, crs, per_side, n_train, west, north in REGIONS:
        for t in range(per_side * per_side):
            split = Split.TRAIN if t < n_train else Split.TEST
            numbers[split] += 1
            r, c = divmod(t, per_side)
            n = len(rows)
            rows.append(
                ManifestRow(
                    id=f"{split}_{numbers[split]}",
                    split=split,
                    index=numbers[split],
                    image=image_path(split, numbers[split]),
                    mask=mask_path(split, numbers[split]),
                    region=name,
                    tile_row=r,
                    tile_col=c,
                    xmin=west + c * SIDE,
                    ymin=north - (r + 1) * SIDE,
                    xmax=west + (c + 1) * SIDE,
                    ymax=north - r * SIDE,
                    crs=crs,
                    landslide_fraction=landslide_side(n) ** 2 / PATCH_SIZE**2,
                    scene_ids="S2A_TEST",
                    scene_dates="2024-06-01",
                    source=SourceKind.LOCAL,
                    sha256="0" * 64,
                    version="0123456789ab",
                )
            )
    return rows


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A published-like version folder with its browser and one figure."""
    root = tmp_path_factory.mktemp("version")
    rows = demo_sized_rows()
    order = {r.id: n for n, r in enumerate(rows)}
    index = patch_index(r.model_dump(mode="json") for r in rows)
    (root / "figures").mkdir()
    Image.new("RGB", (40, 20), (0, 114, 178)).save(root / "figures" / "sample_patches.png")
    uris = write_browser(
        root / "browse",
        PageTitle("Landslide4Sense (rebuilt)", "0123456789ab", "2026-12-06T00:00:00+00:00"),
        rows,
        index.geometry,
        lambda row: seeded_patch(order[row.id]),
        figures=["sample_patches.png"],
    )
    return root, rows, uris


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, offline, with a fresh profile; its console and network
    logs kept."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    with headless_chromium("--force-device-scale-factor=1", "--hide-scrollbars", logs=True) as d:
        yield d


def opened(chromium, root: Path):
    """The page loaded afresh (filters reset); the logs emptied of anything before."""
    chromium.get_log("browser")
    chromium.get_log("performance")
    chromium.get((root / "browse" / "index.html").as_uri())
    chromium.execute_script("return document.readyState")
    return chromium


def requested(driver) -> list[str]:
    """The URLs the page asked for since the logs were last read."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def shown(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('[data-patch]')]"
        ".filter((e) => !e.hidden).map((e) => e.dataset.patch)"
    )


def test_thumbnail_outlines_the_landslide_in_yellow():
    image = np.ones((128, 128, 14), np.float32)
    image[..., 3] = np.linspace(0, 1, 128)[None, :]  # red varies: a stretch has a range
    mask = np.zeros((128, 128), np.uint8)
    mask[32:64, 32:64] = 1  # thumbnail rows/cols 16..31
    thumb = thumbnail(image, mask)
    outlined = np.all(thumb == OUTLINE, axis=-1)
    expected = np.zeros((64, 64), bool)
    expected[16:32, 16:32] = True
    expected[17:31, 17:31] = False  # the ring only
    np.testing.assert_array_equal(outlined, expected)
    assert thumb.shape == (64, 64, 3) and thumb.dtype == np.uint8


def test_band_strip_is_fourteen_bands_and_the_mask():
    image, mask = seeded_patch(3)  # a 48 px landslide: 24 px in the strip
    strip = band_strip(image, mask)
    assert strip.shape == (64, 15 * 64)
    np.testing.assert_array_equal(strip[:24, 14 * 64 : 14 * 64 + 24], 255)
    assert (strip[24:, 14 * 64 :] == 0).all() and (strip[:, 14 * 64 + 24 :] == 0).all()


def test_page_shows_every_patch_offline_without_errors(page, chromium):
    from selenium.webdriver.support.ui import WebDriverWait

    root, rows, _ = page
    driver = opened(chromium, root)
    keys = driver.execute_script(
        "return [...document.querySelectorAll('#grid [data-patch]')].map((e) => e.dataset.patch)"
    )
    assert keys == [patch_key(r) for r in rows]
    assert len(keys) == 164 and keys[0] == "TrainData/1" and keys[-1] == "TestData/123"
    # every thumbnail draws once scrolled to (the sheets load lazily)
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    driver.execute_script("document.getElementById('grid').lastChild.scrollIntoView()")
    drawn = (
        "return [...document.querySelectorAll('#grid .thumb')]"
        ".filter((t) => t.style.backgroundImage.includes('thumbs-0.jpg')).length"
    )
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(drawn) == 164)
    footprints = driver.execute_script(
        "return document.querySelectorAll('#maps polygon[data-footprint]').length"
    )
    assert footprints == 164
    assert driver.find_element("css selector", "#figures img").get_property("naturalWidth") == 40
    urls = requested(driver)
    # chrome:// is the browser's own pages (its blank new tab), served from inside it
    assert [u for u in urls if not u.startswith(("file://", "data:", "chrome://"))] == []
    assert {u.rsplit("/", 1)[-1] for u in urls} >= {"index.html", "patches.js", "thumbs-0.jpg"}
    assert driver.get_log("browser") == []


def test_filters_change_what_is_shown(page, chromium):
    from selenium.webdriver.support.ui import Select

    root, rows, _ = page
    driver = opened(chromium, root)
    assert len(shown(driver)) == 164
    Select(driver.find_element("id", "region")).select_by_value("demo-valley")
    assert shown(driver) == [patch_key(r) for r in rows if r.region == "demo-valley"]
    Select(driver.find_element("id", "split")).select_by_value("TrainData")
    assert shown(driver) == [f"TrainData/{n}" for n in range(26, 42)]
    low = driver.find_element("id", "share-min")
    low.clear()
    low.send_keys("5")  # squares of 32 px and more: 6.25 % of the patch
    expected = [
        patch_key(r)
        for r in rows
        if r.region == "demo-valley" and r.split is Split.TRAIN and r.landslide_fraction >= 0.05
    ]
    assert shown(driver) == expected and 0 < len(expected) < 16
    assert driver.find_element("id", "shown").text == f"{len(expected)} of 164 patches shown"
    off = driver.execute_script("return document.querySelectorAll('#maps polygon.off').length")
    assert off == 164 - len(expected)
    assert driver.get_log("browser") == []


def test_screenshot_matches_the_layout_and_the_thumbnails(page, chromium):
    root, _, _ = page
    driver = opened(chromium, root)
    driver.execute_async_script(  # the first sheet decoded: its thumbnails are on screen
        "const img = new Image(); img.src = 'thumbs-0.jpg';"
        "img.decode().then(() => requestAnimationFrame(() => arguments[0]()))"
    )
    shot = np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB"))
    rect = driver.execute_script(
        "const r = (s) => document.querySelector(s).getBoundingClientRect();"
        "return {header: r('header'), maps: r('#maps'), grid: r('#grid'),"
        " first: r('[data-patch=\"TrainData/1\"] .thumb'),"
        " second: r('[data-patch=\"TrainData/2\"] .thumb')}"
    )
    assert rect["header"]["top"] == 0 and rect["maps"]["top"] >= rect["header"]["bottom"]
    assert rect["maps"]["right"] <= rect["grid"]["left"]  # the maps beside the patches
    assert rect["second"]["left"] == rect["first"]["right"] + 6  # the grid's gap
    sheet = np.asarray(Image.open(root / "browse" / "thumbs-0.jpg").convert("RGB"))
    for key, n in (("first", 0), ("second", 1)):
        x, y = round(rect[key]["left"]), round(rect[key]["top"])
        crop = shot[y : y + 64, x : x + 64].astype(int)
        expected = sheet[:64, 64 * n : 64 * (n + 1)].astype(int)  # its place on the sheet
        assert np.abs(crop - expected).mean() < 2  # decoded by Chromium, then by Pillow


def test_detail_view_shows_bands_mask_and_manifest_row(page, chromium):
    root, _, _ = page
    driver = opened(chromium, root)
    driver.find_element("css selector", "[data-patch='TrainData/7']").click()
    assert driver.find_element("id", "detail").is_displayed()
    assert driver.find_element("id", "detail-title").text == "TrainData/7 (train_7)"
    labels = [e.text for e in driver.find_elements("css selector", "#bands span")]
    assert labels == [*(f"B{i:02d}" for i in range(1, 13)), "slope", "dem", "mask"]
    row = dict(
        zip(
            [e.text for e in driver.find_elements("css selector", "#row th")],
            [e.text for e in driver.find_elements("css selector", "#row td")],
            strict=True,
        )
    )
    assert row["region"] == "demo-hills" and row["tile_col"] == "6" and row["split"] == "train"
    assert not driver.find_element("id", "training").is_displayed()  # not trained yet
    assert driver.get_log("browser") == []


def test_table_i_shows_once_trained(page, chromium, tmp_path):
    root, _, _ = page
    table = tmp_path / "table_i.csv"
    table.write_text("model,F1\nU-Net,0.71\n")
    Image.new("RGB", (30, 30), (213, 94, 0)).save(tmp_path / "spider.png")
    before = (root / "browse" / "training.js").read_text()
    try:
        write_training(root / "browse", table, tmp_path / "spider.png")
        driver = opened(chromium, root)
        cells = [e.text for e in driver.find_elements("css selector", "#table-i th, #table-i td")]
        assert cells == ["model", "F1", "U-Net", "0.71"]
        assert driver.find_element("id", "spider").get_property("naturalWidth") == 30
        assert driver.get_log("browser") == []
    finally:
        (root / "browse" / "training.js").write_text(before)


def test_stac_thumbnails_are_the_page_thumbnails(page):
    _, rows, uris = page
    import base64

    head = "data:image/jpeg;base64,"
    assert len(uris) == len(rows) and all(u.startswith(head) for u in uris)
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(uris[4][len(head) :]))))
    # One stretch for the page: every band's range over evenly spaced patches, not each patch's
    step = max(1, len(rows) // RANGE_SAMPLE)
    ranges = stretch_ranges([seeded_patch(n)[0] for n in range(0, len(rows), step)])
    assert np.abs(pixels.astype(int) - thumbnail(*seeded_patch(4), ranges).astype(int)).mean() < 4
    assert np.abs(pixels.astype(int) - thumbnail(*seeded_patch(4)).astype(int)).mean() > 8
