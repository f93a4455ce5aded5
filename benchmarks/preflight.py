"""How fast bad input is refused, as a user meets it: a fresh ``l4s`` process per case.

Prints, per case, the wall time from start to exit, the exit status, and the one message. The
target is under 2 s, without Prefect starting (it is not even imported).

    .venv/bin/python benchmarks/preflight.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import yaml
from shapely.geometry import Point

from landslide4sense.acquisition.demo import write_demo_inputs
from landslide4sense.training.synthetic import write_release


def cases(root: Path) -> dict[str, list[str]]:
    regions, raw = write_demo_inputs(root / "demo")
    region = yaml.safe_load((regions / "demo-hills.yaml").read_text())

    def region_file(name: str, **change) -> str:
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**region, **change}))
        return str(path)

    bad_raw = root / "raw"
    (bad_raw / "demo-hills").mkdir(parents=True)
    for f in (raw / "demo-hills").iterdir():
        (bad_raw / "demo-hills" / f.name).symlink_to(f)
    (bad_raw / "demo-hills" / "s2").unlink()
    (bad_raw / "demo-hills" / "s2").mkdir()
    for f in (raw / "demo-hills" / "s2").iterdir():
        (bad_raw / "demo-hills" / "s2" / f.name).symlink_to(f)
    band = bad_raw / "demo-hills" / "s2" / "B04.tif"
    data = band.read_bytes()
    band.unlink()
    band.write_bytes(data[: len(data) // 2])
    points = root / "points" / "demo-hills"
    points.mkdir(parents=True)
    for f in (raw / "demo-hills").iterdir():
        if f.name != "labels.gpkg":
            (points / f.name).symlink_to(f)
    gpd.GeoDataFrame(geometry=[Point(138.15, 36.25)], crs="EPSG:4326").to_file(
        points / "labels.gpkg", layer="labels"
    )
    project = root / "project"
    (project / "figures").mkdir(parents=True)
    (project / "figures" / "holiday.png").write_text("png")
    release = write_release(root / "release", 4, 2, size=16)
    out = str(root / "out")
    build = ["build", "--out", out]
    return {
        "whole-globe AOI": [
            *build,
            "--regions",
            region_file("globe", aoi={"bbox": [-180, -90, 180, 90]}),
            "--raw",
            str(raw),
        ],
        "truncated band": [*build, "--regions", region_file("hills"), "--raw", str(bad_raw)],
        "labels as points": [
            *build,
            "--regions",
            region_file("hills"),
            "--raw",
            str(points.parent),
        ],
        "folder not a benchmark": [
            "build",
            "--regions",
            region_file("hills"),
            "--raw",
            str(raw),
            "--out",
            str(project),
        ],
        "--iterations 0": ["train", "--dataset", str(release), "--iterations", "0"],
        "missing dataset": ["train", "--dataset", str(root / "nowhere")],
        "version not ours": ["restore", str(project), "../../etc"],
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in cases(Path(tmp)).items():
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "landslide4sense.flows.cli", *argv],
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - started
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
            print(
                f"{name:<24}{seconds:6.2f} s  exit {done.returncode}  {len(lines)} line(s): "
                f"{(lines or [''])[0][:90]}"
            )


if __name__ == "__main__":
    main()
