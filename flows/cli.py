"""``l4s``: the command line of landslide4sense.

Every command that builds or trains runs a Prefect flow on a local Prefect API that stays up
between commands (:mod:`landslide4sense.flows.api`; nothing to install or start); set
``PREFECT_API_URL`` to run against a server instead. Bad input is refused before Prefect or
anything heavy is imported (:mod:`landslide4sense.flows.preflight`): one message that names the
file, the problem and the fix, printed once, exit status 2, nothing written, within a second
or two.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import shutil
import sys
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from landslide4sense import __version__
from landslide4sense.choices import LAYOUTS, Device, OutputLayout, Scaling, SourceKind
from landslide4sense.errors import ConfigError, L4SError, MissingInputError
from landslide4sense.extras import require_extra
from landslide4sense.flows.api import local_api
from landslide4sense.flows.preflight import (
    MAX_AOI_KM2,
    check_build,
    check_demo,
    check_layout,
    region_files,
)
from landslide4sense.flows.runners import prefect_defaults
from landslide4sense.store.output import is_benchmark


class _Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default after its help, when it has one worth showing; keeps the
    examples' lines as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or action.required:
            return action.help
        return super()._get_help_string(action)


def _command(sub, name: str, help: str, examples: Sequence[str] = ()) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` ends with ``examples`` (command lines, ``#`` comments)."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) if examples else None
    return sub.add_parser(name, help=help, description=help, epilog=epilog, formatter_class=_Help)


def _choice(
    p: argparse.ArgumentParser,
    flag: str,
    choice: type[StrEnum],
    default: StrEnum | None,
    help: str,
    choices: list | None = None,
) -> None:
    """An option whose value is a member of ``choice`` (the enum checks it, argparse lists it)."""
    p.add_argument(flag, type=choice, choices=choices or list(choice), default=default, help=help)


def _add_build_options(p: argparse.ArgumentParser, adds: bool = False) -> None:
    _choice(p, "--source", SourceKind, SourceKind.LOCAL, "where the Sentinel-2 bands come from")
    p.add_argument(
        "--raw",
        type=Path,
        help="folder of raw layers (local source), or the download cache (networked sources)",
    )
    p.add_argument("--out", type=Path, required=True, help="benchmark folder to write")
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run tasks on a Dask cluster: a scheduler address, or 'local'",
    )
    p.add_argument(
        "--max-aoi-km2",
        type=float,
        default=MAX_AOI_KM2,
        help="refuse a region whose AOI's bounding box is larger (km2)",
    )
    _add_output_options(p, adds)


def _add_output_options(p: argparse.ArgumentParser, adds: bool = False) -> None:
    _choice(
        p,
        "--scaling",
        Scaling,
        Scaling.L4S,
        "l4s: divide each band by the original "
        "release's constant; raw: source units (DN, degrees, metres)",
    )
    default = None if adds else False  # None: the benchmark's (add-region)
    also = "; default: the benchmark's" if adds else ""
    p.add_argument(
        "--valid",
        action=argparse.BooleanOptionalAction,
        default=default,
        help="also ValidData: the last 10%% of each region's training tiles held out of "
        "TrainData (what TorchGeo's split='val' reads)" + also,
    )
    p.add_argument(
        "--split-files",
        action=argparse.BooleanOptionalAction,
        default=default,
        help="also one chunked HDF5 file per split (TrainData.h5, ...), which `l4s train` "
        "reads" + also,
    )
    p.add_argument(
        "--layout",
        choices=[x.name for x in LAYOUTS],
        help="deprecated: the two options above by one name (release, with-valid, +split-files)",
    )


def _layout(args: argparse.Namespace) -> dict[str, bool | None]:
    """The flows' ``valid`` and ``split_files``: the two options, or the deprecated
    ``--layout`` name when it is given."""
    if args.layout is None:
        return {"valid": args.valid, "split_files": args.split_files}
    print("warning: --layout is deprecated; use --valid and --split-files", file=sys.stderr)
    layout = OutputLayout.named(args.layout)
    return {"valid": layout.valid, "split_files": layout.split_files}


def _parser() -> argparse.ArgumentParser:
    """The ``l4s`` parser: global options, then each group of commands."""
    p = argparse.ArgumentParser(
        prog="l4s",
        description="Rebuild the Landslide4Sense benchmark from raw sources, add regions to it, "
        "and train its baselines.",
        epilog="examples:\n  l4s demo --out demo\n  l4s browse demo/benchmark\n"
        '  l4s versions demo/benchmark --json\n  eval "$(l4s completion bash)"',
        formatter_class=_Help,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    talk = p.add_mutually_exclusive_group()
    talk.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show Prefect's line for every finished task",
    )
    talk.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="only warnings, errors and the result: no progress bars or log lines",
    )
    sub = p.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="what to do (`l4s COMMAND --help` says more)",
    )
    _add_build_commands(sub)
    _add_training_commands(sub)
    _add_version_commands(sub)
    _add_annotate_commands(sub)
    _add_source_commands(sub)
    _add_shell_commands(sub)
    return p


def _add_build_commands(sub) -> None:
    """build, add-region, demo: publishing a benchmark."""
    b = _command(
        sub,
        "build",
        "build the benchmark from every region in a folder",
        [
            "l4s build --regions regions --raw raw --out bench",
            "l4s build --regions regions --source earthengine --raw cache --out bench",
        ],
    )
    b.add_argument("--regions", type=Path, default=Path("regions"), help="folder of region YAMLs")
    _add_build_options(b)

    a = _command(
        sub,
        "add-region",
        "add one region to a benchmark (a new version)",
        ["l4s add-region regions/iburi-2018.yaml --raw raw --out bench"],
    )
    a.add_argument("region", type=Path, help="the region YAML")
    _add_build_options(a, adds=True)

    d = _command(
        sub,
        "demo",
        "write a synthetic demo region and build its benchmark",
        ["l4s demo --out demo", "l4s browse demo/benchmark   # then look at it"],
    )
    d.add_argument("--out", type=Path, default=Path("demo"), help="demo folder")
    _add_output_options(d)


def _add_training_commands(sub) -> None:
    """train, predict, models: the baselines."""
    t = _command(
        sub,
        "train",
        "train the baselines on a benchmark; writes Table I",
        [
            "l4s train --dataset bench --models U-Net,LinkNet --iterations 100 --batch-size 8",
            "l4s train --dataset bench   # all eleven, 5000 iterations each",
        ],
    )
    t.add_argument(
        "--dataset",
        type=Path,
        required=True,
        help="benchmark folder (ours or the original release)",
    )
    t.add_argument(
        "--models", default="all", help="'all', or names separated by commas (see `l4s models`)"
    )
    t.add_argument("--iterations", type=int, default=5000, help="training iterations per model")
    t.add_argument("--batch-size", type=int, default=32, help="patches per iteration")
    _choice(t, "--device", Device, Device.AUTO, "auto: CUDA when present, else CPU")
    t.add_argument("--out", type=Path, help="results folder (default: DATASET/training)")
    t.add_argument(
        "--eval-every",
        type=int,
        default=500,
        help="iterations between scores on the validation subset",
    )
    t.add_argument("--seed", type=int, default=2022, help="random seed (weights, batches)")
    t.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="runs per model, seeds SEED, SEED+1, ...; Table I gives their mean and standard "
        "deviation (3 for a Table I run)",
    )
    t.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic algorithms on CUDA (slower; a resumed run ends exactly as one "
        "never interrupted)",
    )
    t.add_argument(
        "--force", action="store_true", help="retrain models already trained, from scratch"
    )
    t.add_argument("--augment", action="store_true", help="random flips of training batches")
    t.add_argument("--compile", action="store_true", help="torch.compile the models (CUDA)")
    t.add_argument(
        "--keep-optimizer",
        action="store_true",
        help="keep each model's last.pt (Adam's state, to train on later)",
    )

    pr = _command(
        sub,
        "predict",
        "map a region's landslides with a trained model",
        [
            "l4s predict bench/training/<version>/U-Net/best.pt regions/iburi-2018.yaml "
            "--raw raw --out maps"
        ],
    )
    pr.add_argument("checkpoint", type=Path, help="a model's best.pt (of `l4s train`)")
    pr.add_argument("region", type=Path, help="the region YAML")
    _choice(pr, "--source", SourceKind, SourceKind.LOCAL, "where the Sentinel-2 bands come from")
    pr.add_argument("--raw", type=Path, help="folder of raw layers (local source) or cache")
    pr.add_argument("--out", type=Path, required=True, help="folder of the maps to write")
    _choice(pr, "--device", Device, Device.AUTO, "auto: CUDA when present, else CPU")
    pr.add_argument("--threshold", type=float, default=0.5, help="landslide from this probability")
    pr.add_argument(
        "--min-area",
        type=float,
        help="drop smaller polygons, m2 (default: the region's min_area_m2)",
    )

    _command(sub, "models", "list the baselines and their parameter counts", ["l4s models"])


def _add_version_commands(sub) -> None:
    """versions, restore, browse: what a benchmark folder holds."""
    v = _command(
        sub,
        "versions",
        "list the versions a benchmark keeps (* = current): splits, layout, regions",
        ["l4s versions bench", "l4s versions bench --json | jq '.[0].counts'"],
    )
    v.add_argument("out", type=Path, help="the benchmark folder")
    v.add_argument("--json", action="store_true", help="print JSON (one object per version)")
    rs = _command(
        sub,
        "restore",
        "make a kept version the current one again",
        ["l4s versions bench   # which are kept", "l4s restore bench 86620ba3cd76"],
    )
    rs.add_argument("out", type=Path, help="the benchmark folder")
    rs.add_argument("version", help="a version `l4s versions OUT` lists")
    br = _command(
        sub,
        "browse",
        "the benchmark browser: print its address, or open it (static; no server, no network)",
        ["l4s browse bench", "l4s browse bench --open"],
    )
    br.add_argument("out", type=Path, help="the benchmark folder")
    br.add_argument("--open", action="store_true", help="open it in the default web browser")


def _add_annotate_commands(sub) -> None:
    """annotate candidates / merge / report: labels from OBIA candidates and corrections."""
    an = _command(sub, "annotate", "OBIA candidates, corrections merge, agreement report")
    an_sub = an.add_subparsers(dest="step", required=True, metavar="STEP", help="the step")
    c = _command(
        an_sub,
        "candidates",
        "propose landslide polygons (OBIA and/or a model); writes a QGIS project beside them",
        [
            "l4s annotate candidates regions/iburi-2018.yaml --pre pre --post post "
            "--dem dem.tif --out labels.gpkg",
            "qgis labels.qgz   # correct them, then: l4s annotate merge labels.gpkg",
        ],
    )
    c.add_argument("region", type=Path, help="the region YAML (segmentation and rule settings)")
    c.add_argument("--pre", type=Path, help="pre-event folder (s2/B*.tif): OBIA candidates")
    c.add_argument(
        "--from-model",
        type=Path,
        metavar="CHECKPOINT",
        help="candidates from a trained model's best.pt (beside OBIA with --pre)",
    )
    _choice(c, "--device", Device, Device.AUTO, "--from-model: where the model runs")
    c.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="--from-model: landslide from this probability",
    )
    c.add_argument("--post", type=Path, required=True, help="post-event folder (s2/B*.tif)")
    c.add_argument("--dem", type=Path, required=True, help="the DEM (any CRS)")
    c.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the GeoPackage to write (RGB composites and the QGIS project go beside it)",
    )
    c.add_argument("--force", action="store_true", help="replace candidates that have corrections")
    m = _command(
        an_sub,
        "merge",
        "apply the corrections layer: rebuild the labels layer",
        ["l4s annotate merge labels.gpkg --min-area 100"],
    )
    m.add_argument("labels", type=Path, help="the GeoPackage with candidates and corrections")
    m.add_argument("--min-area", type=float, default=100.0, help="drop slivers below, m2")
    r = _command(
        an_sub,
        "report",
        "candidates vs corrected labels: markdown + PNG",
        ["l4s annotate report a.gpkg b.gpkg --out report"],
    )
    r.add_argument("labels", type=Path, nargs="+", help="merged GeoPackages")
    r.add_argument("--out", type=Path, help="report folder (default: beside the first file)")


def _add_source_commands(sub) -> None:
    """sources check, plan: the networked sources, checked and planned."""
    src = _command(sub, "sources", "the Sentinel-2 and DEM sources")
    src_sub = src.add_subparsers(dest="step", required=True, metavar="STEP", help="the step")
    ck = _command(
        src_sub,
        "check",
        "credentials, endpoints, collections, scene counts",
        ["l4s sources check", "l4s sources check regions/iburi-2018.yaml"],
    )
    ck.add_argument("region", type=Path, nargs="?", help="a region YAML: also its scenes")

    pl = _command(
        sub,
        "plan",
        "what a networked source would request (no network)",
        [
            "l4s plan regions/iburi-2018.yaml",
            "l4s plan regions/iburi-2018.yaml --source stac --json",
        ],
    )
    pl.add_argument("region", type=Path, help="the region YAML")
    _choice(
        pl,
        "--source",
        SourceKind,
        SourceKind.EARTHENGINE,
        "a networked source",
        choices=[SourceKind.EARTHENGINE, SourceKind.STAC, SourceKind.CDSE],
    )
    pl.add_argument("--block-px", type=int, help="Earth Engine's block side in px")
    pl.add_argument("--json", action="store_true", help="print JSON")


def _add_shell_commands(sub) -> None:
    """completion: the shell's completion of l4s."""
    co = _command(
        sub,
        "completion",
        "print the shell completion script of l4s",
        [
            'eval "$(l4s completion bash)"   # this shell',
            "l4s completion bash > ~/.local/share/bash-completion/completions/l4s",
        ],
    )
    co.add_argument("shell", choices=["bash"], help="the shell")


def runnable() -> str:
    """How to run ``l4s`` again from here: its name when it is on PATH, else its path (a
    virtual environment's ``.venv/bin/l4s`` is usually not on PATH)."""
    script = Path(sys.argv[0])
    if script.name != "l4s":  # python -m ..., or a test runner: the l4s beside this Python
        script = Path(sys.executable).parent / "l4s"
        if not script.exists():
            return f"{sys.executable} -m landslide4sense.flows.cli"
    on_path = shutil.which("l4s")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "l4s"
    try:
        return str(script.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(script.absolute())


def _on_runner(flow, dask: str | None):
    """The flow, on a Dask task runner when asked (its workers inherit the API's address)."""
    if not dask:
        return flow
    from landslide4sense.flows.runners import dask_runner

    return flow.with_options(task_runner=dask_runner(dask))


def _build(args: argparse.Namespace) -> dict:
    api = local_api()  # starts in the background while the flows are imported
    from landslide4sense.flows.build import build_benchmark

    with api:
        return _on_runner(build_benchmark, args.dask)(
            regions=args.regions,
            out=args.out,
            source=args.source,
            raw=args.raw,
            scaling=args.scaling,
            **_layout(args),
            max_aoi_km2=args.max_aoi_km2,
        )


def _add_region(args: argparse.Namespace) -> dict:
    api = local_api()
    from landslide4sense.flows.build import add_region

    with api:
        result = _on_runner(add_region, args.dask)(
            region=args.region,
            out=args.out,
            source=args.source,
            raw=args.raw,
            scaling=args.scaling,
            **_layout(args),
            max_aoi_km2=args.max_aoi_km2,
        )
    if result["rebuilt"]:
        same = result["version"] == result["previous"]
        print(
            f"{result['region']} was already in the benchmark: rebuilt in place"
            + (", nothing changed" if same else "")
        )
    return result


def _demo(args: argparse.Namespace) -> dict:
    api = local_api()
    from landslide4sense.acquisition.demo import write_demo_inputs
    from landslide4sense.flows.build import build_benchmark

    regions, raw = write_demo_inputs(args.out)
    out = args.out / "benchmark"
    with api:
        result = build_benchmark(
            regions=regions,
            out=out,
            source=SourceKind.LOCAL,
            raw=raw,
            scaling=args.scaling,
            **_layout(args),
        )
    print(
        f"\nregions:   {regions}/\nraw data:  {raw}/\nbenchmark: {out}/ (TrainData, TestData, "
        f"manifest.csv, dataset.json)\ncard:      {out / 'card.md'}\nfigures:   "
        f"{out / 'figures'}/\nlook:      {runnable()} browse {out} --open\n"
        f"train it:  {runnable()} train --dataset {out} --models U-Net,LinkNet "
        "--iterations 100 --batch-size 8"
    )
    return result


def _train(args: argparse.Namespace) -> dict:
    api = local_api()  # the input was checked (and read) by _check_train
    from landslide4sense.flows.retraining import retrain_baselines

    with api:
        result = retrain_baselines(
            dataset=args.dataset,
            models=args.models,
            iterations=args.iterations,
            batch_size=args.batch_size,
            device=args.device,
            out=args.out,
            force=args.force,
            seed=args.seed,
            eval_every=args.eval_every,
            compile=args.compile,
            augment=args.augment,
            keep_optimizer=args.keep_optimizer,
            seeds=args.seeds,
            deterministic=args.deterministic,
        )
    print(Path(result["table"]).read_text())
    print(f"results: {result['out']}/ (table_i.csv, table_i.md, spider.png, detections.png)")
    return result


def _predict(args: argparse.Namespace) -> dict:
    api = local_api()  # the input was checked by _check_predict
    from landslide4sense.flows.mapping import map_event

    with api:
        result = map_event(
            checkpoint=args.checkpoint,
            region=args.region,
            out=args.out,
            source=args.source,
            raw=args.raw,
            device=args.device,
            threshold=args.threshold,
            min_area_m2=args.min_area,
        )
    print(
        f"{result['region']}: {result['landslides']} landslide polygons "
        f"({result['area_km2']:.3f} km2) by {result['model']}\nprobability: "
        f"{result['probability']}\npolygons:    {result['polygons']}"
    )
    return result


def _versions(args: argparse.Namespace) -> None:
    import dataclasses
    import json

    from landslide4sense.store.benchmark import Benchmark

    kept = Benchmark.at(args.out).versions()
    if args.json:
        print(json.dumps([dataclasses.asdict(v) for v in kept], indent=1))
        return
    print(f"{args.out}: {len(kept)} version(s) kept, newest first (* = current)")
    for v in kept:
        counts = " + ".join(f"{n} {split}" for split, n in v.counts.items())
        print(
            f"{'*' if v.current else ' '} {v.version}  {v.created}  {counts}  {v.layout}  "
            f"{', '.join(v.regions)}"
        )


def _browse(args: argparse.Namespace) -> None:
    from landslide4sense.layout import BROWSE_DIR
    from landslide4sense.store.benchmark import Benchmark

    page = Benchmark.at(args.out).out / BROWSE_DIR / "index.html"
    if not page.is_file():
        raise MissingInputError(
            f"{page}: no browser in this version (published by an older landslide4sense); "
            "rebuild it to get one"
        )
    url = page.resolve().as_uri()
    print(url)
    if args.open:
        import webbrowser

        webbrowser.open(url)


def _completion(args: argparse.Namespace) -> None:
    from landslide4sense.runtime.completion import bash_script

    print(bash_script(_parser()), end="")


def _restore(args: argparse.Namespace) -> None:
    from landslide4sense.store.benchmark import Benchmark, open_benchmark
    from landslide4sense.store.versions import check_version

    version = check_version(args.version)
    command = f"l4s restore {version}"
    with open_benchmark(Benchmark.at(args.out).out, command, claim=False) as bench:
        bench.restore(version)
    print(
        f"{args.out}: version {args.version} is current again (retrain it with "
        f"`l4s train --dataset {args.out}` if it has no results yet)"
    )


def _models(args: argparse.Namespace) -> None:
    require_extra("torch", "train")
    from landslide4sense.training.models import MODELS, get_model, parameter_count

    print(f"{'model':<14}{'parameters':>14}")
    for name in MODELS:
        print(f"{name:<14}{parameter_count(get_model(name)):>14,}")


def _plan(args: argparse.Namespace) -> None:
    import json

    from landslide4sense.acquisition import plan_source
    from landslide4sense.regions import load_region, region_grid

    region = load_region(args.region)
    plan = plan_source(args.source, region, region_grid(region), args.block_px)
    if args.json:
        print(json.dumps(plan, indent=1))
        return
    g = plan["grid"]
    print(f"{region.name}: grid {g['crs']} {g['width']} x {g['height']} px at 10 m")
    if args.source == SourceKind.EARTHENGINE:
        mb = sum(r["bytes"] for r in plan["requests"]) / 1e6
        sides = ", ".join(f"{res} {px} px" for res, px in plan["block_px"].items())
        print(
            f"  {len(plan['requests'])} computePixels requests (blocks: {sides}), {mb:.0f} MB; "
            f"collections {', '.join(plan['collections'])}"
        )
    else:
        print(f"  STAC search at {plan['stac_api']}: {json.dumps(plan['search'])}")


def _sources(args: argparse.Namespace) -> int:
    from landslide4sense.acquisition.check import check_sources
    from landslide4sense.regions import load_region

    checks = check_sources(load_region(args.region) if args.region else None)
    for c in checks:
        print(c.line())
    failed = [c for c in checks if c.ok is False]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
    return 1 if failed else 0


def _annotate(args: argparse.Namespace) -> None:
    import tempfile

    from landslide4sense.annotation import band_files, merge, write_candidates, write_report
    from landslide4sense.regions import load_region, region_grid

    if args.step == "candidates":
        if args.pre is None and args.from_model is None:
            raise ConfigError("candidates need --pre (OBIA), --from-model CHECKPOINT, or both")
        region = load_region(args.region)
        grid = region_grid(region)
        pre = band_files(args.pre) if args.pre else None  # missing bands fail before any work
        with tempfile.TemporaryDirectory() as work:
            model = None
            if args.from_model:
                require_extra("torch", "train")
                from landslide4sense.layout import S2_BANDS
                from landslide4sense.training.predict import model_candidates

                model = model_candidates(
                    args.from_model,
                    grid,
                    band_files(args.post, S2_BANDS),
                    args.dem,
                    Path(work) / "model",
                    args.device,
                    region.annotation.rules.min_area_m2,
                    args.threshold,
                )
            gdf = write_candidates(
                region,
                grid,
                pre,
                band_files(args.post),
                args.dem,
                args.out,
                work,
                args.force,
                model,
            )
        counts = ", ".join(f"{n} {s}" for s, n in gdf["source"].value_counts().sort_index().items())
        print(
            f"{len(gdf)} candidates ({counts}; {gdf.area.sum() / 1e6:.3f} km2) in {args.out} "
            f"(layer candidates); correct them in QGIS (layer corrections), then run "
            f"`{runnable()} annotate merge {args.out}`"
        )
    elif args.step == "merge":
        rep = merge(args.labels, args.min_area)
        print(
            f"{args.labels}: {rep.candidates} candidates, +{rep.added} added, -{rep.deleted} "
            f"deleted, {rep.reshaped} reshaped -> {rep.labels} labels "
            f"({rep.area_m2 / 1e6:.3f} km2; {rep.invalid_repaired} repaired, "
            f"{rep.slivers_dropped} slivers dropped, {rep.overlaps_dissolved} overlaps "
            "dissolved)"
        )
    else:
        out = write_report(args.labels, args.out or args.labels[0].parent)
        print(out.read_text())
        print(f"report: {out}")


COMMANDS = {
    "build": _build,
    "add-region": _add_region,
    "demo": _demo,
    "train": _train,
    "predict": _predict,
    "versions": _versions,
    "restore": _restore,
    "browse": _browse,
    "completion": _completion,
    "models": _models,
    "plan": _plan,
    "annotate": _annotate,
    "sources": _sources,
}


def _check_train(args: argparse.Namespace) -> None:
    """Settings, models, and every patch of the dataset (read once: the flow reuses them)."""
    for option in ("iterations", "batch_size", "eval_every", "seeds"):
        if getattr(args, option) < 1:
            raise ConfigError(
                f"--{option.replace('_', '-')} must be at least 1, got {getattr(args, option)}"
            )
    if not args.dataset.is_dir():  # before torch is imported
        raise MissingInputError(f"{args.dataset}: no such folder (--dataset: the benchmark)")
    from landslide4sense.store.output import check_output, check_writable, own_results
    from landslide4sense.store.versions import check_records

    check_records(args.dataset)
    if own_results(args.dataset, args.out) is not None:
        check_output(args.out, "training")
    else:
        try:
            check_writable(args.dataset / "training")
        except ConfigError as err:
            raise ConfigError(f"{err}; or write the results elsewhere with --out") from err
    require_extra("torch", "train")
    from landslide4sense.store.versions import data_folder
    from landslide4sense.training.data import load_benchmark_once
    from landslide4sense.training.models import model_names

    model_names(args.models)
    load_benchmark_once(data_folder(args.dataset))


def _finite(option: str, value: float | None, low: float, high: float = math.inf) -> None:
    """Refuse a numeric option outside [low, high], NaN included (it passes every comparison)."""
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{option} must be a number from {low} to {high}, got {value}")


def _check_predict(args: argparse.Namespace) -> None:
    """Settings, the output folder (new, empty, or maps of ours), the checkpoint (bands and
    weights), the region and the raw folder: before the API starts."""
    _finite("--threshold", args.threshold, 0.0, 1.0)
    _finite("--min-area", args.min_area, 0.0)
    from landslide4sense.store.output import check_output

    check_output(args.out, "maps")
    require_extra("torch", "train")
    from landslide4sense.regions import load_region
    from landslide4sense.training.checkpoint import check_checkpoint

    check_checkpoint(args.checkpoint)
    load_region(args.region)
    if args.source == SourceKind.LOCAL and not (args.raw and args.raw.is_dir()):
        raise MissingInputError(f"{args.raw}: raw folder not found (--raw, the local source)")


def _check_annotate(args: argparse.Namespace) -> None:
    """The file a step would write is one the tool wrote, or new (see annotation.guard)."""
    from landslide4sense.annotation.candidates import check_target
    from landslide4sense.annotation.corrections import check_merge

    if args.step == "candidates":
        _finite("--threshold", args.threshold, 0.0, 1.0)
        check_target(args.out, args.force)
    elif args.step == "merge":
        _finite("--min-area", args.min_area, 0.0)
        check_merge(args.labels)


def _check_build(args: argparse.Namespace) -> None:
    """The extras the command needs, then its input (:func:`check_build`)."""
    if args.dask:
        require_extra("prefect_dask", "dask")
    files = [args.region] if args.command == "add-region" else region_files(args.regions)
    check_build(
        files,
        args.source,
        args.raw,
        args.out,
        args.scaling,
        args.max_aoi_km2,
        adding=args.command == "add-region",
    )
    if args.command == "add-region" and is_benchmark(args.out):
        check_layout(args.out, **_layout(args))


PREFLIGHT = {
    "build": _check_build,
    "add-region": _check_build,
    "demo": lambda a: check_demo(a.out),
    "train": _check_train,
    "predict": _check_predict,
    "annotate": _check_annotate,
}


class _Once(logging.Filter):
    """Our errors are printed once, by :func:`main`: drop Prefect's copies of them (the task and
    flow logs with their tracebacks, and the failed-state lines). The Prefect UI keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, L4SError):
            return False
        if record.name.startswith("prefect") and "Failed(" in record.getMessage():
            return not any(f" {name}:" in record.getMessage() for name in _error_names())
        return True


def _error_names(cls: type = L4SError) -> set[str]:
    return {cls.__name__}.union(*(_error_names(c) for c in cls.__subclasses__()))


class _Chatty(logging.Filter):
    """Drops what libraries say below a warning: pyogrio's "Created N records" for every file
    written, httpx's every request, asf_search's every search. A filter on the handler, since
    Prefect's logging set-up resets the levels of loggers when a flow starts."""

    NAMES = ("httpx", "pyogrio", "asf_search")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] not in self.NAMES


class _QuietTasks(logging.Filter):
    """Keeps Prefect's "Finished in state Completed()" line of every task off the terminal
    (the Prefect UI still has them); failures are warnings and errors, and pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name.startswith("prefect.task_runs")
            and record.levelno <= logging.INFO
            and record.getMessage().startswith("Finished in state")
        )


def _log_to_terminal(verbose: bool, quiet: bool = False) -> None:
    """Log lines on stderr; progress bars too when stderr is a terminal (lines print above,
    through the one console). ``quiet``: warnings and errors only, and no bars."""
    from landslide4sense.runtime import console as terminal

    console = terminal.use_terminal() if sys.stderr.isatty() and not quiet else None
    handler = terminal.ConsoleHandler(console) if console else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    if not verbose:
        handler.addFilter(_QuietTasks())
    handler.addFilter(_Once())
    handler.addFilter(_Chatty())
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, handlers=[handler])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    prefect_defaults()
    _log_to_terminal(args.verbose, args.quiet)
    started = time.perf_counter()
    try:
        if args.command in PREFLIGHT:  # its checks' own log lines only with -v
            root = logging.getLogger()
            level = root.level
            root.setLevel(level if args.verbose else logging.WARNING)
            try:
                PREFLIGHT[args.command](args)
            finally:
                root.setLevel(level)
        result = COMMANDS[args.command](args)
    except L4SError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if isinstance(result, int):
        return result
    if isinstance(result, dict) and "counts" in result:
        c = result["counts"]
        counts = " + ".join(f"{c[s]} {s}" for s in ("train", "val", "test") if c.get(s))
        print(
            f"version {result['version']}: {counts} patches ({result['scaling']} scaling) in "
            f"{time.perf_counter() - started:.0f} s"
        )
    return 0


def command() -> None:
    """The ``l4s`` executable: :func:`main`, then exit. What is left is frozen first
    (``gc.freeze``): the interpreter's last garbage collections walk every object they
    track, 0.45 s after a build of a full tile."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    command()
