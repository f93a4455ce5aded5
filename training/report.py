"""Table I, the spider plots (Fig. 9) and the detection maps (Fig. 10) of a training run."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from landslide4sense.files import write_text
from landslide4sense.training.data import Splits
from landslide4sense.training.models.deviations import deviation_table, protocol_table

#: Table I of the paper: recall, precision, F1 (%) of models trained 5000 iterations on the
#: four original regions and tested on its hold-out patches (three quarters of each area).
PAPER_TABLE_I = {
    "PSPNet": (52.03, 61.55, 56.39),
    "ContextNet": (49.29, 70.77, 58.11),
    "DeepLab-v2": (63.68, 60.8, 62.21),
    "DeepLab-v3+": (62.11, 69.91, 65.78),
    "FCN-8s": (63.05, 68.66, 65.73),
    "LinkNet": (67.02, 66.76, 66.89),
    "FRRN-A": (64.4, 76.57, 69.96),
    "FRRN-B": (76.16, 64.93, 70.1),
    "SQNet": (66.69, 74.2, 70.24),
    "U-Net": (62.17, 79.91, 69.94),
    "ResU-Net": (67.71, 76.08, 71.65),
}
PAPER_NOTE = (
    "**paper**: the paper's Table I, its models trained 5000 iterations on the four original "
    "regions and tested on its own hold-out patches (three quarters of each study area), "
    "not on the split above: a reference, not a like-for-like comparison."
)
NO_MASKS = "no masks"
# Fig. 10's colours: true positives red, false negatives green, false positives blue.
TP, FN, FP = (1.0, 0.0, 0.0), (0.0, 0.7, 0.0), (0.0, 0.3, 1.0)


def scores_on_test(metrics: dict) -> dict | None:
    """A model's overall test scores, or None when the test split has no masks."""
    return metrics["scores"].get("test", {}).get("all")


def seed_runs(result: dict | list[dict]) -> list[dict]:
    """A model's runs, one ``metrics.json`` per seed (a single dict is one seed)."""
    return result if isinstance(result, list) else [result]


def mean_sd(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), sd


def split_label(version: str) -> str:
    """Which split Table I measured: a folder without ``dataset.json`` (the competition
    release) is not the paper's."""
    if version.startswith("release-"):
        return "competition release: not the paper's split"
    return "this project's benchmark: the first quarter of each area trains (the paper's rule)"


def table_rows(results: dict[str, dict | list[dict]], version: str = "") -> list[dict]:
    """One row per model, its scores the mean over seeds (and their standard deviation); test
    cells say ``no masks`` when the test split could not be scored."""
    rows = []
    for name, result in results.items():
        runs = seed_runs(result)
        m = runs[0]
        tests = [scores_on_test(r) for r in runs]
        paper = PAPER_TABLE_I.get(name, (None, None, None))
        scores = {}
        for k in ("recall", "precision", "f1"):
            mean, sd = mean_sd([t[k] for t in tests]) if all(tests) else (NO_MASKS, None)
            scores |= {f"test_{k}": mean, f"test_{k}_sd": sd}
        val = [r["best_val_f1"] for r in runs if r["best_val_f1"] is not None]
        counts = m.get("patches", {})
        rows.append(
            {
                "model": name,
                **scores,
                "validation_f1": mean_sd(val)[0] if val else None,
                "validation_set": m["validation"],
                "selection": m.get("selection", ""),
                "paper_recall": paper[0],
                "paper_precision": paper[1],
                "paper_f1": paper[2],
                "iterations": m["config"]["iterations"],
                "parameters": m["parameters"],
                "train_patches": counts.get("train"),
                "val_patches": counts.get("val"),
                "test_patches": counts.get("test", NO_MASKS),
                "seeds": " ".join(str(r["config"]["seed"]) for r in runs),
                "split": split_label(version),
            }
        )
    return rows


def _fmt(v, sd: float | None = None) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.2f}" if sd is None else f"{v:.2f} ± {sd:.2f}"


def write_table(
    out: Path, results: dict[str, dict | list[dict]], version: str
) -> tuple[Path, Path]:
    """``table_i.csv`` and ``table_i.md``: our scores (mean ± standard deviation over seeds)
    beside the paper's, each column named for what it is; the splits, their patch counts and
    which have no masks; how checkpoints were picked; the protocol's and the models'
    deviations. ``results``: each model's ``metrics.json``, or a list of them, one per seed."""
    rows = table_rows(results, version)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text(out / "table_i.csv", buf.getvalue())
    first = seed_runs(next(iter(results.values())))[0]
    tested = any(scores_on_test(seed_runs(m)[0]) for m in results.values())
    seeds = sorted({len(seed_runs(m)) for m in results.values()})
    lines = [
        f"# Table I, dataset version `{version}`",
        "",
        "Landslide class, in %.",
        "",
        f"- **split**: {split_label(version)}.",
        f"- **checkpoint**: {rows[0]['selection'] or 'best validation F1'}.",
        f"- **seeds**: {' or '.join(map(str, seeds))} per model ({rows[0]['seeds']}); cells "
        "with several are the mean ± the standard deviation over seeds.",
        "- **test (ours)**: that checkpoint scored on TestData from confusion counts summed "
        "over every pixel"
        + (
            "."
            if tested
            else "; this release has no TestData masks, so there are no test "
            f"scores (cells say '{NO_MASKS}')."
        ),
        "- **validation F1 (ours)**: that checkpoint on the validation set that picked it "
        "(optimistic for that reason; '-' without one).",
        f"- {PAPER_NOTE}",
        "",
        "Splits of this run:",
        "",
        *[f"- {line}" for line in first["splits"]],
        "",
        "| model | test recall (ours) | test precision (ours) | test F1 (ours) "
        "| validation F1 (ours) | recall (paper) | precision (paper) | F1 (paper) "
        "| iterations | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r["model"],
            *(_fmt(r[f"test_{k}"], r[f"test_{k}_sd"]) for k in ("recall", "precision", "f1")),
            *(_fmt(r[k]) for k in ("validation_f1", "paper_recall", "paper_precision", "paper_f1")),
            str(r["iterations"]),
            r["seeds"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    firsts = {name: seed_runs(m)[0] for name, m in results.items()}
    per_region = sorted(
        {k for m in firsts.values() for k in m["scores"].get("test", {}) if k != "all"}
    )
    if per_region and per_region != ["all"]:
        lines += [
            "",
            f"## Test F1 per region (ours, seed {rows[0]['seeds'].split()[0]})",
            "",
            "| model | " + " | ".join(per_region) + " |",
            "|---|" + "---|" * len(per_region),
        ]
        for name, m in firsts.items():
            cells = [_fmt(m["scores"]["test"].get(r, {}).get("f1")) for r in per_region]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## How our protocol departs from the paper's",
        "",
        protocol_table(),
        "## How each model departs from its paper",
        "",
        deviation_table({n: m["parameters"] for n, m in firsts.items()}),
    ]
    write_text(out / "table_i.md", "\n".join(lines))
    return out / "table_i.csv", out / "table_i.md"


def plot_spider(path: Path, results: dict[str, dict | list[dict]]) -> None:
    """One triangle per model: F1 (top), precision (left), recall (right), ours (the first
    seed) against the paper's (dashed), like the paper's Fig. 9."""
    names = list(results)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3 * cols, 3 * rows), subplot_kw={"projection": "polar"}, squeeze=False
    )
    angles = np.radians([90, 210, 330, 90])  # F1 top, precision left, recall right
    for ax, name in zip(axes.ravel(), names, strict=False):
        s = scores_on_test(seed_runs(results[name])[0]) or {}
        ours = [s.get("f1", 0), s.get("precision", 0), s.get("recall", 0)]
        ax.fill(angles, [*ours, ours[0]], color="hotpink", alpha=0.4)
        ax.plot(angles, [*ours, ours[0]], color="deeppink", marker="^")
        if name in PAPER_TABLE_I:
            r, p, f = PAPER_TABLE_I[name]
            ax.plot(angles, [f, p, r, f], color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(angles[:3], ["F1", "precision", "recall"], fontsize=7)
        ax.set_ylim(0, 100)
        ax.set_yticks([25, 50, 75], ["", "", ""])
        ax.set_title(f"{name}\nF1 {ours[0]:.1f}", fontsize=9)
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    fig.suptitle("Test scores (pink) and the paper's Table I (dashed)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def sample_index(data: Splits, k: int = 6) -> np.ndarray:
    """A fixed sample of test patches with landslides, spread over the split (for Fig. 10)."""
    if data.test is None:
        return np.array([], dtype=np.int64)
    share = data.test.masks.reshape(len(data.test), -1).mean(axis=1)
    candidates = np.flatnonzero(share > 0.005)
    if len(candidates) == 0:
        candidates = np.arange(len(data.test))
    return candidates[np.linspace(0, len(candidates) - 1, min(k, len(candidates))).astype(int)]


def detection_map(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """RGB map: true positives red, false negatives green, false positives blue, else white."""
    rgb = np.ones((*truth.shape, 3))
    p, t = pred.astype(bool), truth.astype(bool)
    rgb[p & t], rgb[~p & t], rgb[p & ~t] = TP, FN, FP
    return rgb


def plot_detections(
    path: Path, data: Splits, sample: np.ndarray, predictions: dict[str, np.ndarray]
) -> None:
    """Rows: sample test patches; columns: RGB, label, then each model's detection map."""
    if not len(sample):
        return
    cols = 2 + len(predictions)
    fig, axes = plt.subplots(
        len(sample), cols, figsize=(1.6 * cols, 1.6 * len(sample)), squeeze=False
    )
    rgb_bands = [3, 2, 1]
    for row, i, img in zip(axes, sample, data.test.read(sample), strict=True):
        img = img[rgb_bands].transpose(1, 2, 0)
        lo, hi = np.percentile(img, [2, 98])
        row[0].imshow(np.clip((img - lo) / (hi - lo + 1e-9), 0, 1))
        row[1].imshow(detection_map(data.test.masks[i], data.test.masks[i]))
        for ax, pred in zip(row[2:], predictions.values(), strict=True):
            ax.imshow(detection_map(pred[list(sample).index(i)], data.test.masks[i]))
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(data.test.ids[i], fontsize=7)
    for ax, title in zip(axes[0], ["RGB", "label", *predictions], strict=True):
        ax.set_title(title, fontsize=7)
    fig.suptitle(
        "Detections: true positive red, false negative green, false positive blue", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
