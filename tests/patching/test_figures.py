import numpy as np
import pytest
from PIL import Image

from landslide4sense.geo.stack import L4S_SCALE
from landslide4sense.patching.assemble import patch_means
from landslide4sense.patching.figures import plot_band_values, plot_landslide_share
from landslide4sense.records import TileRecord


def tile(sums, sums_ls, n_ls):
    return TileRecord(
        row=0,
        col=0,
        bounds=(0, 0, 1, 1),
        landslide_px=n_ls,
        sha256="",
        sum=sums,
        sumsq=[0.0] * len(sums),
        sum_ls=sums_ls,
    )


def test_patch_means_split_landslide_and_other_pixels_exactly():
    # 4-pixel patches, 2 bands: patch 1 has 1 landslide pixel of (10, 20) among pixels of (1, 2)
    tiles = [
        tile([13.0, 26.0], [10.0, 20.0], 1),
        tile([4.0, 8.0], [0.0, 0.0], 0),
        tile([40.0, 80.0], [40.0, 80.0], 4),
    ]
    means = patch_means(tiles, n_pixels=4)
    np.testing.assert_array_equal(means["landslide"], [[10, 20], [10, 20]])  # patches 1 and 3
    np.testing.assert_array_equal(means["other"], [[1, 2], [1, 2]])  # patches 1 and 2
    assert patch_means([], 4)["landslide"].shape == (0, 0)


def test_figures_are_png_at_150_dpi_with_an_svg_beside(tmp_path):
    rng = np.random.default_rng(0)
    splits = ("train", "val", "test")
    groups = [
        (
            name,
            {
                s: {
                    "landslide": rng.random((5, 14)) * L4S_SCALE,
                    "other": rng.random((9, 14)) * L4S_SCALE,
                }
                for s in splits
            },
        )
        for name in ("alpha", "beta")
    ]
    plot_band_values(tmp_path / "band_values.png", groups, [f"B{i}" for i in range(14)], L4S_SCALE)
    shares = [
        {"name": n, **{s: {"landslide_share": 0.01 * k} for k, s in enumerate(splits)}}
        for n in ("alpha", "beta")
    ]
    plot_landslide_share(tmp_path / "landslide_share.png", shares, list(splits))
    for name in ("band_values", "landslide_share"):
        with Image.open(tmp_path / f"{name}.png") as im:
            assert im.info["dpi"] == pytest.approx(
                (150, 150), abs=0.1
            )  # pHYs stores dots per metre
        assert (tmp_path / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_band_values_legend_fits_inside_the_figure_with_three_splits():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from landslide4sense.patching.figures import band_values_figure

    rng = np.random.default_rng(0)
    splits = {
        s: {"landslide": rng.random((5, 14)), "other": rng.random((9, 14))}
        for s in ("train", "val", "test")
    }
    fig = band_values_figure([("all regions", splits)], [f"B{i}" for i in range(14)], L4S_SCALE)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    legend = fig.legends[0]
    box = legend.get_window_extent(canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y0 >= 0  # nothing cut off
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:2] == ["landslide pixels, training split", "other pixels, training split"]
    panel = fig.axes[0].get_tightbbox(canvas.get_renderer())
    assert box.y1 <= panel.y0  # below the panel, not over its tick labels
