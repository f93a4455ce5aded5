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

#: Table I of the paper: recall, precision, F1 (%) on the original release.
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
# Fig. 10's colours: true positives red, false negatives green, false positives blue.
TP, FN, FP = (1.0, 0.0, 0.0), (0.0, 0.7, 0.0), (0.0, 0.3, 1.0)


def table_rows(results: dict[str, dict]) -> list[dict]:
    rows = []
    for name, m in results.items():
        ours = m["test"].get("all", {})
        paper = PAPER_TABLE_I.get(name, (None, None, None))
        rows.append(
            {
                "model": name,
                "recall": ours.get("recall"),
                "precision": ours.get("precision"),
                "f1": ours.get("f1"),
                "paper_recall": paper[0],
                "paper_precision": paper[1],
                "paper_f1": paper[2],
                "best_val_f1": m["best_val_f1"],
                "iterations": m["config"]["iterations"],
                "parameters": m["parameters"],
            }
        )
    return rows


def _fmt(v) -> str:
    return "" if v is None else f"{v:.2f}"


def write_table(out: Path, results: dict[str, dict], version: str) -> tuple[Path, Path]:
    """``table_i.csv`` and ``table_i.md``: our test scores beside the paper's."""
    rows = table_rows(results)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text(out / "table_i.csv", buf.getvalue())
    lines = [
        f"# Table I, dataset version `{version}`",
        "",
        "Landslide class on the test split, confusion counts summed over every test pixel (%).",
        "The paper's columns are its Table I (original release, 5000 iterations).",
        "",
        "| model | recall | precision | F1 | paper recall | paper precision | paper F1 "
        "| iterations |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {_fmt(r['recall'])} | {_fmt(r['precision'])} | {_fmt(r['f1'])} | "
            f"{_fmt(r['paper_recall'])} | {_fmt(r['paper_precision'])} | {_fmt(r['paper_f1'])} | "
            f"{r['iterations']} |"
        )
    per_region = sorted({k for m in results.values() for k in m["test"] if k != "all"})
    if per_region and per_region != ["all"]:
        lines += [
            "",
            "## F1 per region",
            "",
            "| model | " + " | ".join(per_region) + " |",
            "|---|" + "---|" * len(per_region),
        ]
        for name, m in results.items():
            cells = [_fmt(m["test"].get(r, {}).get("f1")) for r in per_region]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    write_text(out / "table_i.md", "\n".join(lines) + "\n")
    return out / "table_i.csv", out / "table_i.md"


def plot_spider(path: Path, results: dict[str, dict]) -> None:
    """One triangle per model: F1 (top), precision (left), recall (right), ours against the
    paper's (dashed), like the paper's Fig. 9."""
    names = list(results)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3 * cols, 3 * rows), subplot_kw={"projection": "polar"}, squeeze=False
    )
    angles = np.radians([90, 210, 330, 90])  # F1 top, precision left, recall right
    for ax, name in zip(axes.ravel(), names, strict=False):
        s = results[name]["test"].get("all", {})
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
    if data.test.masks is None:
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
    for row, i in zip(axes, sample, strict=True):
        img = data.test.images[i][rgb_bands].transpose(1, 2, 0)
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
