"""Error messages of the estimation kernels (formatted in Python from the kernels' codes)."""
from __future__ import annotations

__all__: list[str] = []  # private module

NOT_FINITE, OUTSIDE, ROW_SUM = 1, 2, 3


def message(name, scores, code, row, col, sum_tol) -> str:
    where = f"{name}[{row}]" if col < 0 else f"{name}[{row}, {col}]"
    if code == ROW_SUM:
        total = float(scores[row].astype("float64").sum())
        return (f"{name}[{row}] sums to {total!r}: probabilities must sum to 1 within "
                f"sum_tol={sum_tol!r} (pass logits=True for unnormalised scores)")
    v = float(scores[row] if col < 0 else scores[row, col])
    if code == NOT_FINITE:
        return f"{where} = {v!r} is not finite"
    if code == OUTSIDE:
        return f"{where} = {v!r} is outside [0, 1] (pass logits=True for logits)"
    raise RuntimeError(f"unknown estimation kernel error code {code}")
