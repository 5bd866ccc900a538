"""Draw purchase histories from the modified BG/NBD story itself, for fitting tests."""

from __future__ import annotations

import numpy as np


def simulate_mbgnbd(
    n: int, r: float, alpha: float, a: float, b: float, max_T: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, t_x, T for n customers: Poisson(lambda) purchases, dropout p at the first
    purchase and after each repeat one.

    lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b), T uniform on 1..max_T (whole days).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.integers(1, max_T + 1, n).astype(float)
    x = np.zeros(n)
    t_x = np.zeros(n)
    for i in range(n):  # test helper: a plain loop is clearest
        if rng.random() < p[i]:
            continue  # gone right after the first purchase
        t = 0.0
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > T[i]:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p[i]:
                break
    return x, t_x, T
