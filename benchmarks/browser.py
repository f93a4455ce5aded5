"""Benchmark browser of a full Sentinel-2 tile: page weight and time to first render.

    python benchmarks/browser.py [--tiles 85] [--out /tmp/l4s-browser-bench] [--runs 3]

Writes the browser (:func:`~landslide4sense.patching.browser.write_browser`) of one region of
``tiles`` x ``tiles`` patches (85 x 85 = 7,225, a whole 10980 px tile) with seeded smooth
patches (no HDF5 files: their reading is not what is measured), then opens it from file:// in
Debian's headless Chromium ``runs`` times and prints: the files and bytes of ``browse/``, the
bytes the page loads before its first render (the page, its data and the thumbnail sheets in
view), the time from navigation to the grid's first render and to the first contentful paint
(best of ``runs``), and the time to write it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from landslide4sense.choices import SourceKind, Split
from landslide4sense.layout import PATCH_SIZE, image_path, mask_path
from landslide4sense.patching.browser import PageTitle, write_browser
from landslide4sense.patching.index import patch_index
from landslide4sense.records import ManifestRow

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' Chromium helper
from tests.helpers import headless_chromium

SIDE_M = PATCH_SIZE * 10.0


def tile_rows(tiles: int) -> list[ManifestRow]:
    """One region of ``tiles`` x ``tiles`` patches, the first quarter training (the paper's
    rule), with a landslide in every fifth patch."""
    n, n_train = tiles * tiles, -(-tiles * tiles // 4)
    rows, numbers = [], {Split.TRAIN: 0, Split.TEST: 0}
    for t in range(n):
        split = Split.TRAIN if t < n_train else Split.TEST
        numbers[split] += 1
        r, c = divmod(t, tiles)
        rows.append(
            ManifestRow(
                id=f"{split}_{numbers[split]}",
                split=split,
                index=numbers[split],
                image=image_path(split, numbers[split]),
                mask=mask_path(split, numbers[split]),
                region="full-tile",
                tile_row=r,
                tile_col=c,
                xmin=600_000 + c * SIDE_M,
                ymin=4_800_000 - (r + 1) * SIDE_M,
                xmax=600_000 + (c + 1) * SIDE_M,
                ymax=4_800_000 - r * SIDE_M,
                crs="EPSG:32633",
                landslide_fraction=0.0625 if t % 5 == 0 else 0.0,
                scene_ids="S2A_BENCH",
                scene_dates="2024-06-01",
                source=SourceKind.LOCAL,
                sha256="0" * 64,
                version="0123456789ab",
            )
        )
    return rows


def seeded_patch(row: ManifestRow) -> tuple[np.ndarray, np.ndarray]:
    """Smooth seeded bands (gradients around 1000 DN) and a 32 px landslide in some."""
    slopes = np.random.default_rng(row.tile_row * 1000 + row.tile_col).uniform(-300, 300, (2, 14))
    grid = np.mgrid[0:PATCH_SIZE, 0:PATCH_SIZE] / (PATCH_SIZE - 1)
    image = (1000 + grid[0][..., None] * slopes[0] + grid[1][..., None] * slopes[1]).astype(
        np.float32
    )
    mask = np.zeros((PATCH_SIZE, PATCH_SIZE), np.uint8)
    if row.landslide_fraction:
        mask[:32, :32] = 1
    return image, mask


def first_render(page: Path, runs: int) -> tuple[float, float, list[str]]:
    """Best of ``runs``: ms to the grid's render and to the first contentful paint; the
    thumbnail sheets the page shows by then."""
    best = (float("inf"), float("inf"), [])
    with headless_chromium() as driver:
        for _ in range(runs):
            driver.get("about:blank")
            driver.get(page.as_uri())
            time.sleep(1.0)  # the paint entries and the sheets in view
            rendered, paint, loaded = driver.execute_script(  # the sheets of thumbnails in view
                "const p = performance.getEntriesByName('first-contentful-paint');"
                "const sheets = [...document.querySelectorAll('#grid .thumb')]"
                "  .map((t) => t.style.backgroundImage).filter((b) => b);"
                "return [window.L4S_RENDERED, p.length ? p[0].startTime : null,"
                " [...new Set(sheets.map((b) => b.split('\"')[1]))]]"
            )
            if rendered < best[0]:
                best = (rendered, paint, loaded)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, default=85, help="patches per side of the region")
    parser.add_argument("--out", type=Path, default=Path("/tmp/l4s-browser-bench"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = tile_rows(args.tiles)
    folder = args.out / "browse"
    if folder.exists():
        shutil.rmtree(folder)
    index = patch_index(r.model_dump(mode="json") for r in rows)
    started = time.perf_counter()
    write_browser(
        folder,
        PageTitle("bench", "0123456789ab", "2026-01-01"),
        rows,
        index.geometry,
        seeded_patch,
        figures=(),
    )
    written = time.perf_counter() - started
    files = sorted(folder.iterdir())
    total = sum(f.stat().st_size for f in files)
    rendered, paint, loaded = first_render(folder / "index.html", args.runs)
    names = {*loaded, "index.html", "patches.js", "training.js"}
    first = sum(f.stat().st_size for f in files if f.name in names)
    print(f"{len(rows)} patches: browse/ holds {len(files)} files, {total / 1e6:.1f} MB")

    def megabytes(prefix: str) -> float:
        return sum(f.stat().st_size for f in files if f.name.startswith(prefix)) / 1e6

    print(
        f"  thumbnails {megabytes('thumbs-'):.1f} MB, band strips {megabytes('bands-'):.1f} MB "
        f"(loaded on opening a patch), data {megabytes('patches.js'):.2f} MB"
    )
    print(f"  loaded before the first render: {first / 1e6:.2f} MB ({', '.join(sorted(names))})")
    print(
        f"  first render of the grid {rendered:.0f} ms, first contentful paint {paint:.0f} ms"
        f" (best of {args.runs})"
    )
    print(f"  written in {written:.1f} s ({1e3 * written / len(rows):.2f} ms per patch)")


if __name__ == "__main__":
    main()
