"""The monitor's drift statistics against the tools they come from, on identical samples (issue 16):
Evidently's stattests (jensenshannon, psi, chisquare on the bins as categories; wasserstein on the bin centres
repeated by their counts), NannyML's StandardDeviationThreshold, river's PageHinkley. Agreement to 1e-9, and the
same detection indices for Page-Hinkley.

Usage: test_drift_oracles.py DRIFT_STATS_TOOL   (run with .cache/drift-venv's Python: evidently, nannyml, river)
"""
import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")  # scipy's divide-by-zero on a category the reference never saw (p = 0 on both sides)
from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
from evidently.legacy.calculations.stattests.psi import _psi
from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
from evidently.legacy.core import ColumnType
from nannyml.thresholds import StandardDeviationThreshold
from river.drift import PageHinkley

tool = sys.argv[1]
rng = np.random.default_rng(16)


def expand(counts, values=None):
    values = np.arange(len(counts)) if values is None else np.asarray(values)
    return pd.Series(np.repeat(values, np.asarray(counts, dtype=int)))


def random_counts(bins, total, zero_share):
    p = rng.dirichlet(np.ones(bins) * rng.uniform(0.3, 3))
    c = rng.multinomial(total, p).astype(float)
    c[rng.random(bins) < zero_share] = 0
    if c.sum() == 0:
        c[0] = 1
    return c


cases, expected = [], []
for k in range(300):
    bins = int(rng.integers(2, 40))
    ref = random_counts(bins, int(rng.integers(5, 3000)), rng.uniform(0, 0.4))
    cur = ref.copy() if k % 25 == 0 else random_counts(bins, int(rng.integers(5, 3000)), rng.uniform(0, 0.4))
    r, c = expand(ref), expand(cur)
    cat = ColumnType.Categorical
    cases.append({"test": "jensen_shannon", "reference": ref.tolist(), "current": cur.tolist()})
    expected.append(float(_jensenshannon(r, c, cat, 0.1)[0]))
    cases.append({"test": "psi", "reference": ref.tolist(), "current": cur.tolist()})
    expected.append(float(_psi(r, c, cat, 0.1)[0]))
    cases.append({"test": "chi_square", "reference": ref.tolist(), "current": cur.tolist()})
    expected.append(float(_chi_stat_test(r, c, cat, 0.05)[0]))
    centres = np.sort(rng.uniform(-5, 300, bins)) if k % 2 else np.arange(bins) * 0.05 + 0.025
    cases.append({"test": "wasserstein", "centres": centres.tolist(), "reference": ref.tolist(), "current": cur.tolist()})
    expected.append(float(_wasserstein_distance_norm(expand(ref, centres), expand(cur, centres), ColumnType.Numerical, 0.1)[0]))

for k in range(50):
    values = rng.normal(rng.uniform(0, 1), rng.uniform(0.001, 0.3), int(rng.integers(1, 30)))
    if k % 5 == 0 and len(values) > 1:
        values[0] = np.nan
    cases.append({"test": "chunk_threshold", "values": [None if math.isnan(v) else float(v) for v in values]})
    expected.append(float(StandardDeviationThreshold().thresholds(values)[1]))

ph_params = [dict(), dict(delta=0.5, threshold=15.0, min_instances=5)]  # river's defaults; the monitor's (z-scores)
for k in range(40):
    params = ph_params[k % 2]
    n = int(rng.integers(100, 3000))
    x = rng.normal(0, rng.uniform(0.5, 3), n)
    for _ in range(int(rng.integers(0, 4))):  # mean shifts at random points
        at = int(rng.integers(0, n))
        x[at:] += rng.normal(0, 4)
    ph = PageHinkley(**params)
    at = []
    for i, v in enumerate(x):
        ph.update(float(v))
        if ph.drift_detected:
            at.append(i)
    cases.append({"test": "page_hinkley", "values": x.tolist(), **params})
    expected.append(at)

cases_json = json.dumps(cases).replace("NaN", "null")
got = json.loads(subprocess.run([tool], input=cases_json, capture_output=True, text=True, check=True).stdout)
assert len(got) == len(expected), (len(got), len(expected))
failures, detections = [], 0
for case, g, e in zip(cases, got, expected):
    if case["test"] == "page_hinkley":
        detections += len(e)
        if g != e:
            failures.append(f"page_hinkley: sightline {g[:10]} river {e[:10]}")
        continue
    g = float("nan") if g is None else g
    if math.isnan(e) or math.isnan(g):
        if not (math.isnan(e) and math.isnan(g)):
            failures.append(f"{case['test']}: sightline {g} oracle {e}")
    elif math.isinf(e) or abs(g - e) > 1e-9 * max(1.0, abs(e)):
        failures.append(f"{case['test']}: sightline {g!r} oracle {e!r} (diff {g - e:.3g})")
by_test = pd.Series([c["test"] for c in cases]).value_counts().to_dict()
print(f"drift oracles: {len(cases)} cases {by_test}, {detections} Page-Hinkley detections, {len(failures)} disagreements")
for f in failures[:20]:
    print("  " + f)
assert detections > 20, "the Page-Hinkley streams must hold real detections"
sys.exit(1 if failures else 0)
