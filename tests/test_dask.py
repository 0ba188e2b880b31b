"""tallyml.dask.evaluate on a LocalCluster with 2 worker processes equals one process."""
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm

from tallyml import BinaryMetrics, MulticlassMetrics, MultilabelMetrics

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

import tallyml.dask as tdask  # noqa: E402

BE = "numpy"


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def test_import_tallyml_does_not_import_dask():
    code = "import sys, tallyml; print(any(m == 'dask' or m.startswith('dask.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.strip() == "False"


def test_multiclass_scores_weighted_equals_single_process(client):
    rng = np.random.default_rng(0)
    n, k = 20_000, 6
    y = rng.integers(0, k, n)
    s = rng.random((n, k))
    w = rng.random(n)
    got = tdask.evaluate(da.from_array(y, chunks=1500), da.from_array(s, chunks=(999, 4)),
                         MulticlassMetrics(k, labels="all", backend=BE),
                         sample_weight=da.from_array(w, chunks=4000))
    single = MulticlassMetrics(k, labels="all", backend=BE)
    single.update(y, s, sample_weight=w)
    assert type(got) is MulticlassMetrics and got.count == n
    np.testing.assert_allclose(got.confusion_matrix(), single.confusion_matrix(), rtol=1e-12)
    pred = s.argmax(axis=1)
    np.testing.assert_allclose(got.f1(average="macro"),
                               skm.f1_score(y, pred, average="macro", sample_weight=w), rtol=1e-12)


def test_binary_unweighted_is_exact_and_from_dataframe_columns(client):
    rng = np.random.default_rng(1)
    n = 30_000
    frame = pd.DataFrame({"y": rng.integers(0, 2, n), "score": rng.random(n).astype(np.float32)})
    ddf = dd.from_pandas(frame, npartitions=7)
    got = tdask.evaluate(ddf["y"], ddf["score"], BinaryMetrics(0.3, backend=BE), split_every=2)
    single = BinaryMetrics(0.3, backend=BE)
    single.update(frame["y"].to_numpy(), frame["score"].to_numpy())
    np.testing.assert_array_equal(got.confusion_matrix(), single.confusion_matrix())
    assert got.confusion_matrix().dtype == np.int64 and got.count == n


def test_multilabel_rows_stay_whole(client):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (5000, 4))
    p = rng.random((5000, 4))
    got = tdask.evaluate(da.from_array(y, chunks=(700, 3)), da.from_array(p, chunks=(300, 2)),
                         MultilabelMetrics(4, backend=BE))
    yp = (p >= 0.5).astype(int)
    np.testing.assert_array_equal(got.confusion_matrix(), skm.multilabel_confusion_matrix(y, yp))
    np.testing.assert_allclose(got.f1(average="samples", zero_division=0), skm.f1_score(y, yp, average="samples",
                                                                       zero_division=0), rtol=1e-12)


def test_bad_input_is_reported():
    y = da.from_array(np.zeros(10, dtype=np.int64), chunks=5)
    with pytest.raises(ValueError, match="rows"):
        tdask.evaluate(y, da.zeros(9, chunks=5), BinaryMetrics(backend=BE))
    used = BinaryMetrics(backend=BE)
    used.update([1], [1])
    with pytest.raises(ValueError, match="empty"):
        tdask.evaluate(y, y, used)
    with pytest.raises(TypeError, match="template"):
        tdask.evaluate(y, y, object())
    bad = da.from_array(np.array([0, 1, 7, 0]), chunks=2)
    with pytest.raises(ValueError, match=r"preds\[2\] = 7"):  # the row in the whole array
        tdask.evaluate(da.from_array(np.array([0, 1, 0, 0]), chunks=2), bad, BinaryMetrics(backend=BE),
                       compute=True)
