#!/usr/bin/python3
"""analysis_ref.py -- independent reference for tests/engine/test_analysis.c.

Reads whitespace-separated columns "x y" from the file named first and
prints, one "key value" per line, what numpy says about them:
pearson (np.corrcoef), spearman (average ranks built here, then corrcoef),
the least-squares line from np.linalg.lstsq with its standard errors from
the covariance s^2 (A^T A)^-1, s^2 = SSR/(n-2), and the same for the
coarse-grained points (atoms sorted by x, ties by row, nb = max(1,
round(n/bin)) groups with bounds floor(k n / nb)), bin given second.
"""
import sys

import numpy as np


def ranks(v):
    order = np.lexsort((np.arange(len(v)), v))
    r = np.empty(len(v))
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        r[order[i:j + 1]] = 0.5 * (i + 1 + j + 1)
        i = j + 1
    return r


def line(x, y):
    a = np.vstack([np.ones_like(x), x]).T
    coef, res, _, _ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    s2 = (resid @ resid) / (len(x) - 2)
    cov = s2 * np.linalg.inv(a.T @ a)
    return coef[1], coef[0], np.sqrt(cov[1, 1]), np.sqrt(cov[0, 0])


def main():
    d = np.loadtxt(sys.argv[1])
    binsz = int(sys.argv[2])
    x, y = d[:, 0], d[:, 1]
    n = len(x)
    print("pearson %.17g" % np.corrcoef(x, y)[0, 1])
    print("spearman %.17g" % np.corrcoef(ranks(x), ranks(y))[0, 1])
    s, i, se, ie = line(x, y)
    print("slope %.17g\nintercept %.17g\nslope_err %.17g\nintercept_err %.17g"
          % (s, i, se, ie))
    nb = max(1, int(np.floor(n / binsz + 0.5)))
    order = np.lexsort((np.arange(n), x))
    bx, by = [], []
    for k in range(nb):
        g = order[(k * n) // nb:((k + 1) * n) // nb]
        bx.append(x[g].mean())
        by.append(y[g].mean())
    bx, by = np.array(bx), np.array(by)
    print("nbins %d" % nb)
    print("binned_pearson %.17g" % np.corrcoef(bx, by)[0, 1])
    s, i, se, ie = line(bx, by)
    print("binned_slope %.17g\nbinned_intercept %.17g\nbinned_slope_err %.17g"
          % (s, i, se))
    print("bin0_x %.17g\nbin0_y %.17g\nbinL_x %.17g\nbinL_y %.17g"
          % (bx[0], by[0], bx[-1], by[-1]))


main()
