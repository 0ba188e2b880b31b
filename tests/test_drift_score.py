"""ScoreDrift and PredictionDrift: windows, backends, statistics, thresholds, bad input."""
import threading
import warnings

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial import distance as spd

import tallyml
from tallyml.drift import PredictionDrift, ScoreDrift
from tallyml import _native
from tallyml.drift import statistics as S

# the C++ core joins when it is built (python/tallyml/lib or $TALLYML_LIBRARY)
BACKENDS = ["numba", "numpy"] + (["native"] if _native.available() else [])


def _window_of(stream, window, stride):
    """The samples the window must cover: the last ``window`` before the last bucket boundary."""
    end = (len(stream) // stride) * stride
    return None if end < window else stream[end - window:end]


def _hist(values, interior):
    return np.bincount(np.searchsorted(interior, values, side="right"), minlength=len(interior) + 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("chunk", [1, 7, 64, 250, 999, 5000])
def test_window_counts_equal_direct_histogram(backend, chunk):
    rng = np.random.default_rng(chunk)
    ref = rng.beta(2, 5, 5000)
    d = ScoreDrift(ref, window=500, stride=50, backend=backend)
    stream = np.concatenate([rng.beta(2, 5, 1234), rng.random(777), rng.normal(0.5, 1, 400)])
    for i in range(0, len(stream), chunk):
        d.update(stream[i:i + chunk])
        seen = stream[:i + chunk]
        want_window = _window_of(seen, 500, 50)
        got = d.window_counts()
        if want_window is None:
            assert got is None and not d.ready
            assert all(v is None for v in d.statistics().values())
            assert d.drifted() is None
            continue
        want = np.concatenate([_hist(want_window, d.coarse_edges[0]),
                               _hist(want_window, d.fine_edges[0])])
        assert np.array_equal(got, want)
    assert d.count == len(stream)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backends_agree_on_2d_scores(dtype):
    rng = np.random.default_rng(1)
    ref = rng.dirichlet([1, 2, 3, 4], 4000).astype(dtype)
    objs = [ScoreDrift(ref, window=300, backend=b) for b in BACKENDS]
    for _ in range(20):
        batch = rng.dirichlet([1, 1, 3, 4], rng.integers(1, 200)).astype(dtype)
        for o in objs:
            o.update(batch)
    stats = [o.statistics() for o in objs]
    for o, s in zip(objs[1:], stats[1:]):
        assert np.array_equal(objs[0].window_counts(), o.window_counts())
        for k in s:
            assert np.array_equal(stats[0][k], s[k])
    assert stats[0]["psi"].shape == (4,)


def test_statistics_match_scipy_on_window():
    rng = np.random.default_rng(2)
    ref = rng.beta(2, 5, 20_000)
    d = ScoreDrift(ref, window=2000, thresholds={"psi": 0.2})
    cur = rng.beta(2.5, 5, 2000)
    d.update(cur)
    s = d.statistics()
    rc = _hist(ref, d.coarse_edges[0])
    cc = _hist(cur, d.coarse_edges[0])
    assert s["js"] == pytest.approx(spd.jensenshannon(rc, cc, base=2) ** 2, rel=1e-9)
    p, q = (rc + 0.5) / (rc + 0.5).sum(), (cc + 0.5) / (cc + 0.5).sum()
    assert s["psi"] == pytest.approx(sps.entropy(p, q) + sps.entropy(q, p), rel=1e-9)
    rf, cf = _hist(ref, d.fine_edges[0]), _hist(cur, d.fine_edges[0])
    centres = (np.arange(100) + 0.5) / 100  # fine bins: 100 uniform bins over [0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ks = sps.ks_2samp(np.repeat(centres, rf), np.repeat(centres, cf), method="asymp").statistic
    assert s["ks"] == pytest.approx(ks, abs=1e-12)
    w = sps.wasserstein_distance(centres, centres, rf, cf)
    assert s["wasserstein_raw"] == pytest.approx(w, rel=1e-9)
    assert s["wasserstein"] == pytest.approx(w / np.std(ref), rel=1e-9)
    # binned KS and W1 are close to the exact sample statistics at 100 bins
    assert s["ks"] == pytest.approx(sps.ks_2samp(ref, cur).statistic, abs=0.02)
    assert s["wasserstein_raw"] == pytest.approx(sps.wasserstein_distance(ref, cur), abs=0.01)


def test_calibrated_thresholds_are_mean_plus_k_std_leave_one_out():
    rng = np.random.default_rng(3)
    ref = rng.normal(0, 1, 5000)
    d = ScoreDrift(ref, window=1000, k=2.5, bins=5, fine_bins=20)
    assert d.threshold_source == "calibrated"
    full = ref
    vals = []
    for i in range(5):
        chunk = ref[i * 1000:(i + 1) * 1000]
        rest = np.concatenate([full[:i * 1000], full[(i + 1) * 1000:]])
        vals.append(S.ks(_hist(rest, d.fine_edges[0]), _hist(chunk, d.fine_edges[0])))
    vals = np.array(vals)
    assert d.thresholds["ks"] == pytest.approx(vals.mean() + 2.5 * vals.std(ddof=1), rel=1e-12)
    assert set(d.thresholds) == {"psi", "js", "hellinger", "ks", "wasserstein"}


def test_auto_thresholds_fall_back_to_fixed_psi_when_reference_is_short():
    ref = np.random.default_rng(4).random(1500)
    d = ScoreDrift(ref, window=1000)
    assert d.threshold_source == "fixed" and d.thresholds == {"psi": 0.2}
    with pytest.raises(ValueError, match="calibrate"):
        ScoreDrift(ref, window=1000, thresholds="calibrate")


def test_no_drift_false_alarms_bounded_and_clear_shift_detected():
    rng = np.random.default_rng(5)
    d = ScoreDrift(rng.beta(2, 5, 50_000), window=1000, stride=1000)
    alarms = 0
    for _ in range(100):
        d.update(rng.beta(2, 5, 1000))
        alarms += d.drifted()
    # 5 statistics at mean + 3 std: a handful of alarms in 100 windows at most
    assert alarms <= 10
    d.reset()
    d.update(rng.beta(2, 5, 1000))
    d.update(rng.beta(4, 5, 1000))  # the next full window after the shift
    assert d.drifted() is True


def test_nan_rejected_and_state_unchanged():
    rng = np.random.default_rng(6)
    for backend in BACKENDS:
        d = ScoreDrift(rng.random(2000), window=100, stride=10, backend=backend)
        d.update(rng.random(95))
        before = (d._win.state(), d.count)
        for bad, msg in (([0.1, np.nan], r"scores\[1\] = nan"),  # inside the current bucket
                         (np.r_[rng.random(50), np.inf], r"scores\[50\] = inf")):  # spanning
            with pytest.raises(ValueError, match=msg):
                d.update(bad)
            after = d._win.state()
            assert d.count == before[1]
            for k, v in before[0].items():
                assert np.array_equal(after[k], v)
        d2 = ScoreDrift(rng.random((2000, 3)), window=100, backend=backend)
        x = rng.random((10, 3))
        x[4, 2] = np.nan
        with pytest.raises(ValueError, match=r"scores\[4, 2\] = nan"):
            d2.update(x)


def test_bad_arguments():
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match="reference has 50 samples"):
        ScoreDrift(rng.random(50), bins=10)
    with pytest.raises(ValueError, match="constant"):
        ScoreDrift(np.ones(500))
    with pytest.raises(ValueError, match=r"reference\[3\] = nan"):
        ScoreDrift(np.r_[rng.random(3), np.nan, rng.random(200)])
    with pytest.raises(ValueError, match="stride must divide window"):
        ScoreDrift(rng.random(500), window=100, stride=30)
    with pytest.raises(ValueError, match="window"):
        ScoreDrift(rng.random(500), window=0)
    with pytest.raises(TypeError, match="bins"):
        ScoreDrift(rng.random(500), bins=2.5)
    with pytest.raises(ValueError, match="unknown statistic"):
        ScoreDrift(rng.random(500), thresholds={"nope": 1})
    d = ScoreDrift(rng.random(500), window=100)
    with pytest.raises(ValueError, match="1-D like the reference"):
        d.update(rng.random((5, 2)))
    with pytest.raises(TypeError, match="scores"):
        d.update(np.array(["a"]))


def test_contract_names_at_top_level():
    rng = np.random.default_rng(8)
    d = tallyml.ScoreDrift(rng.random(3000), window=500)
    d.update(rng.random(500))
    assert set(d.statistics()) >= {"psi", "js", "hellinger", "ks", "wasserstein"}
    assert d.drifted() in (True, False)


def test_concurrent_updates_lose_nothing():
    rng = np.random.default_rng(9)
    d = ScoreDrift(rng.random(3000), window=1000, stride=100)
    batches = [rng.random(37) for _ in range(400)]

    def work(bs):
        for b in bs:
            d.update(b)

    threads = [threading.Thread(target=work, args=(batches[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert d.count == 37 * 400
    assert d.window_counts()[:len(d.coarse_edges[0]) + 1].sum() == 1000


# ----------------------------------------------------------------------------- predictions
@pytest.mark.parametrize("backend", BACKENDS)
def test_prediction_drift_multiclass_chi2_matches_scipy(backend):
    rng = np.random.default_rng(10)
    ref = rng.choice(4, 8000, p=[0.4, 0.3, 0.2, 0.1])
    d = PredictionDrift(ref, window=1000, backend=backend)
    cur = rng.choice(4, 1000, p=[0.25, 0.25, 0.25, 0.25])
    d.update(cur[:300])
    assert d.statistics()["chi2"] is None
    d.update(cur[300:])
    s = d.statistics()
    rc, cc = np.bincount(ref, minlength=4), np.bincount(cur, minlength=4)
    exp = (rc + 0.5) / (rc + 0.5).sum() * 1000
    assert s["chi2"] == pytest.approx(sps.chisquare(cc, exp).statistic, rel=1e-9)
    assert s["js"] == pytest.approx(spd.jensenshannon(rc, cc, base=2) ** 2, rel=1e-9)
    assert d.drifted() is True
    ref_sh, cur_sh = d.shares()
    assert np.allclose(cur_sh, cc / 1000)


@pytest.mark.parametrize("backend", BACKENDS)
def test_prediction_drift_from_scores_equals_from_argmax(backend):
    rng = np.random.default_rng(11)
    ref = rng.random((3000, 5))
    cur = rng.random((700, 5))
    a = PredictionDrift(ref, window=500, backend=backend)
    b = PredictionDrift(ref.argmax(axis=1), num_classes=5, window=500, backend=backend)
    a.update(cur)
    b.update(cur.argmax(axis=1))
    assert a.statistics() == b.statistics()


@pytest.mark.parametrize("backend", BACKENDS)
def test_prediction_drift_multilabel_per_label(backend):
    rng = np.random.default_rng(12)
    ref = (rng.random((6000, 3)) < [0.1, 0.5, 0.8]).astype(np.int8)
    d = PredictionDrift(ref, task="multilabel", window=1000, backend=backend)
    cur = rng.random((1000, 3)) < [0.1, 0.5, 0.5]
    d.update(cur)
    s = d.statistics()
    assert s["chi2"].shape == (3,)
    drifted = d.exceeded()["chi2"]
    assert not drifted[0] and drifted[2]
    for j in range(3):
        rc = np.bincount(ref[:, j], minlength=2)
        cc = np.bincount(cur[:, j].astype(int), minlength=2)
        exp = (rc + 0.5) / (rc + 0.5).sum() * 1000
        assert s["chi2"][j] == pytest.approx(sps.chisquare(cc, exp).statistic, rel=1e-9)
    # scores with a threshold count like the labels they threshold to
    e = PredictionDrift(ref, task="multilabel", window=1000, backend=backend)
    e.update(np.where(cur, 0.9, 0.2))
    assert np.array_equal(e.window_counts(), d.window_counts())


def test_prediction_drift_bad_input():
    rng = np.random.default_rng(13)
    d = PredictionDrift(rng.integers(0, 3, 3000), window=100)
    d.update(rng.integers(0, 3, 50))
    before = d._win.state()
    with pytest.raises(ValueError, match=r"preds\[2\] = 3 is outside \[0, 3\)"):
        d.update([0, 1, 3])
    with pytest.raises(ValueError, match=r"preds\[60\] = -1 is outside"):
        d.update(np.r_[np.zeros(60, int), -1])
    with pytest.raises(TypeError, match="integer labels"):
        d.update([0.5, 1.0])
    after = d._win.state()
    for k, v in before.items():
        assert np.array_equal(after[k], v)
    with pytest.raises(ValueError, match="task"):
        PredictionDrift([0, 1], task="regression")
    m = PredictionDrift(rng.integers(0, 2, (500, 2)), task="multilabel", window=100)
    with pytest.raises(ValueError, match=r"preds\[0, 1\] = 2 is outside"):
        m.update([[0, 2]])
    with pytest.raises(ValueError, match=r"preds\[1, 0\] = nan"):
        m.update([[0.1, 0.2], [np.nan, 0.3]])


def test_kernel_binning_is_exact_at_and_around_edges():
    """Values on, just below and just above every edge, huge and tiny ones: the numba kernels
    (arithmetic guess for uniform edges, branch-free count for few edges, binary search for
    many) bin exactly like numpy's searchsorted."""
    rng = np.random.default_rng(14)
    ref = rng.normal(0.3, 0.2, 4000)
    for bins in (8, 40):
        probe = ScoreDrift(ref, window=10, bins=bins, fine_bins=37)
        edges = np.concatenate(probe.coarse_edges + probe.fine_edges)
        x = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                            [0.0, -0.0, 1.0, 5e-324, -5e-324, 1e308, -1e308, 1e300, -1e-300],
                            rng.normal(0.3, 1, 500)])
        want = np.concatenate([_hist(x, probe.coarse_edges[0]), _hist(x, probe.fine_edges[0])])
        for backend in BACKENDS:
            d = ScoreDrift(ref, window=len(x), stride=len(x), bins=bins, fine_bins=37,
                           backend=backend)
            d.update(x)
            assert np.array_equal(d.window_counts(), want), (bins, backend)


def test_pickle_round_trip():
    import pickle

    rng = np.random.default_rng(15)
    d = ScoreDrift(rng.random(5000), window=500)
    d.update(rng.random(777))
    e = pickle.loads(pickle.dumps(d))
    x = rng.random(300)
    d.update(x)
    e.update(x)
    assert np.array_equal(d.window_counts(), e.window_counts())
    assert d.statistics() == e.statistics() and d.thresholds == e.thresholds
    p = PredictionDrift(rng.integers(0, 3, 2000), window=100)
    p.update(rng.integers(0, 3, 150))
    q = pickle.loads(pickle.dumps(p))
    assert q.statistics() == p.statistics()
