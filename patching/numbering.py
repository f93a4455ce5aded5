"""Patch numbers that stay put: N of ``image_N.h5`` per split, stable across versions.

Regions are numbered in the order they joined the benchmark. A region whose count of tiles in a
split is unchanged keeps the numbers it had in the previous version (its tiles in row-major
order take them in order), whatever else changed. A new region, or one whose count changed,
gets fresh numbers after the highest number the previous version used in that split; its old
numbers are left unused rather than handed to another region, so a number never changes
meaning between versions. Rebuilding everything into a new folder numbers from 1 without gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

Key = tuple[str, str]  # (region, split)


@dataclass(frozen=True)
class Renumbered:
    """A region's split that got new numbers, for the dataset card."""

    region: str
    split: str
    before: list[int]  # its numbers in the previous version
    after: list[int]

    def describe(self) -> str:
        return (
            f"{self.region} ({self.split}): {len(self.before)} -> {len(self.after)} patches, "
            f"numbers {_span(self.before)} -> {_span(self.after)}"
            + (f"; {_span(self.before)} are no longer used" if self.before else "")
        )


def _span(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    return f"{numbers[0]}-{numbers[-1]}" if len(numbers) > 1 else str(numbers[0])


def assign_numbers(
    counts: list[tuple[str, dict[str, int]]], previous: dict[Key, list[int]]
) -> dict[Key, list[int]]:
    """Numbers for each region's patches in each split.

    Args:
        counts: (region, {split: number of patches}) in join order.
        previous: the numbers each (region, split) had in the previous version, in the order of
            its tiles (empty for a new benchmark).

    Returns:
        The numbers of each (region, split), in tile order.
    """
    numbers: dict[Key, list[int]] = {}
    fresh: list[tuple[Key, int]] = []
    for region, per_split in counts:
        for split, n in per_split.items():
            old = previous.get((region, split))
            if old is not None and len(old) == n:
                numbers[(region, split)] = list(old)
            else:
                fresh.append(((region, split), n))
    top: dict[str, int] = {}
    for (_, split), old in previous.items():
        top[split] = max([top.get(split, 0), *old])
    for key, n in fresh:
        split = key[1]
        start = top.get(split, 0) + 1
        numbers[key] = list(range(start, start + n))
        top[split] = start + n - 1
    return numbers


def renumbered(numbers: dict[Key, list[int]], previous: dict[Key, list[int]]) -> list[Renumbered]:
    """The (region, split) pairs of the previous version whose numbers changed."""
    return [
        Renumbered(*key, previous[key], now)
        for key, now in numbers.items()
        if key in previous and previous[key] != now
    ]
