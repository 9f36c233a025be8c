"""Random draws the mechanisms share: events of a day x grid count matrix, a category per row."""

from __future__ import annotations

import numpy as np


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Day and grid of every event of a day x grid count matrix."""
    flat = np.flatnonzero(counts)
    cells = np.repeat(flat, counts.ravel()[flat])
    return cells // counts.shape[1], cells % counts.shape[1]


def draw_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row of a (rows x categories) probability table."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    picks = (rng.random(len(probs))[:, None] > cum).sum(axis=1)
    return np.minimum(picks, probs.shape[1] - 1)

