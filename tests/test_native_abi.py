"""The C ABI itself, called through the bridge's declared ctypes functions: version, argument
errors, last-error text, state left unchanged on error, every entry point reachable."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tallyml
from tallyml import _native

pytestmark = pytest.mark.skipif(not _native.available(), reason="native library not built")

A = _native.address


def _fn(name):
    return _native.function(name)


def test_version_matches_package():
    assert _fn("tm_version")().decode() == tallyml.__version__


def test_every_declared_entry_point_is_exported():
    lib = _native.library()
    table = _native.entry_points()
    # 6 families x 5 target dtypes x (5 label or 2 score preds dtypes) x weighted/unweighted
    counting = [n for n in table if n.startswith(("tm_binary_", "tm_multiclass_", "tm_multilabel_"))]
    assert len(counting) == 2 * 5 * (3 * 5 + 3 * 2)
    assert set(table) == set(lib.functions)
    # hidden visibility: internal C++ symbols are not exported
    for mangled in ("_ZN7tallyml9set_errorEPKcz", "_ZN7tallyml15resolve_threadsEill"):
        assert not hasattr(lib.cdll, mangled)


def test_simd_level_switch():
    level = _fn("tm_simd_level")()
    assert level in (0, 1)
    assert _fn("tm_set_simd_level")(0) == 0
    assert _fn("tm_simd_level")() == 0
    assert _fn("tm_set_simd_level")(7) == _native.ERR_ARGUMENT
    assert "not available" in _native.last_error()
    assert _fn("tm_set_simd_level")(level) == 0


def test_null_pointers_and_negative_lengths():
    t = np.zeros(4, np.int8)
    p = np.zeros(4, np.float32)
    state = np.zeros(4, np.int64)
    f = _fn("tm_binary_scores_i8_f32")
    assert f(None, A(p), 4, 0.5, 0, 0, A(state), 0) == _native.ERR_ARGUMENT
    assert _native.last_error() == "target is NULL"
    assert f(A(t), None, 4, 0.5, 0, 0, A(state), 0) == _native.ERR_ARGUMENT
    assert _native.last_error() == "preds is NULL"
    assert f(A(t), A(p), 4, 0.5, 0, 0, None, 0) == _native.ERR_ARGUMENT
    assert _native.last_error() == "state is NULL"
    assert f(A(t), A(p), -1, 0.5, 0, 0, A(state), 0) == _native.ERR_ARGUMENT
    assert _native.last_error() == "n must be >= 0, got -1"
    assert f(A(t), A(p), 4, 0.5, 0, 0, A(state), -3) == _native.ERR_ARGUMENT
    assert _native.last_error() == "num_threads must be >= 0, got -3"
    fw = _fn("tm_binary_scores_i8_f32_w")
    sw = np.zeros(4)
    assert fw(A(t), A(p), None, 4, 0.5, 0, 0, A(sw), 0) == _native.ERR_ARGUMENT
    assert _native.last_error() == "sample_weight is NULL"
    assert not state.any() and not sw.any()


def test_multiclass_and_multilabel_size_arguments():
    t = np.zeros(3, np.int64)
    state = np.zeros(9, np.int64)
    f = _fn("tm_multiclass_labels_i64_i64")
    assert f(A(t), A(t), 3, -2, 0, 0, A(state), None, 0) == _native.ERR_ARGUMENT
    assert _native.last_error() == "num_classes must be >= 0, got -2"
    tl = np.zeros((3, 2), np.uint8)
    st = np.zeros(8, np.int64)
    samples = np.zeros(10, np.int64)
    g = _fn("tm_multilabel_labels_u8_u8")
    assert g(A(tl), A(tl), 3, 2, A(st), A(samples), 9, 0) == _native.ERR_ARGUMENT
    assert _native.last_error() == "samples has 9 bins, 2 labels need 10"
    assert g(A(tl), A(tl), 3, 2, A(st), None, 10, 0) == _native.ERR_ARGUMENT
    assert _native.last_error() == "samples is NULL"
    assert g(A(tl), A(tl), 3, 2, A(st), A(samples), 10, 0) == 0
    assert st.reshape(2, 2, 2)[:, 0, 0].tolist() == [3, 3]
    assert samples[0] == 3


def test_value_error_text_and_state_unchanged():
    t = np.array([0, 1, 1, 0, 1], np.int8)
    s = np.array([0.1, 0.9, np.inf, np.nan, 0.2], np.float32)
    state = np.arange(4, dtype=np.int64)
    before = state.copy()
    rc = _fn("tm_binary_scores_i8_f32")(A(t), A(s), 5, 0.5, 0, 0, A(state), 1)
    assert rc == _native.ERR_VALUE
    assert _native.last_error() == "preds[2] = inf is not finite"
    np.testing.assert_array_equal(state, before)
    # ignoring row 2 (target 1 == ignore_index 1) moves the error to row 3
    rc = _fn("tm_binary_scores_i8_f32")(A(t), A(s), 5, 0.5, 1, 1, A(state), 1)
    assert rc == _native.ERR_VALUE
    assert _native.last_error() == "preds[3] = nan is not finite"
    np.testing.assert_array_equal(state, before)


@pytest.mark.parametrize(
    "value, text",
    [(-1.0, "-1.0"), (-1e-05, "-1e-05"), (-0.0001, "-0.0001"), (-1e16, "-1e+16"),
     (-123456789012345678.0, "-1.2345678901234568e+17"), (-0.1, "-0.1"), (-5e-324, "-5e-324"),
     (-1e15, "-1000000000000000.0"), (np.inf, "inf"), (-np.inf, "-inf"), (np.nan, "nan"),
     (-2.5e-300, "-2.5e-300"), (-1.7976931348623157e308, "-1.7976931348623157e+308")],
)
def test_weight_message_prints_python_repr(value, text):
    assert repr(float(value)) == text  # the oracle is Python itself
    t = np.zeros(2, np.int64)
    w = np.array([1.0, value])
    state = np.zeros(4)
    rc = _fn("tm_binary_labels_i64_i64_w")(A(t), A(t), A(w), 2, 0, 0, A(state), 1)
    assert rc == _native.ERR_VALUE
    assert _native.last_error() == f"sample_weight[1] = {text} is not a finite non-negative number"
    assert not state.any()


def test_last_error_is_thread_local():
    t = np.array([5], np.int64)
    state = np.zeros(4, np.int64)
    f = _fn("tm_binary_labels_i64_i64")
    assert f(A(t), A(t), 1, 0, 0, A(state), 1) == _native.ERR_VALUE
    seen = []

    def other():
        seen.append(_native.last_error())

    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert seen == [""]
    assert _native.last_error() == "target[0] = 5 is outside [0, 2)"


def _call_any(name, argtypes, n=3):
    """Call an entry point with valid, all-zero buffers of the right dtypes."""
    family = name[3:].split("_")
    task, what, tsuf, psuf = family[0], family[1], family[2], family[3]
    weighted = name.endswith("_w")
    dt = {"u8": np.uint8, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
          "f32": np.float32, "f64": np.float64}
    sdt = np.float64 if weighted else np.int64
    k = 3
    if task == "multilabel":
        t = np.zeros((n, k), dt[tsuf])
        p = np.zeros((n, k), dt[psuf])
    else:
        t = np.zeros(n, dt[tsuf])
        p = np.zeros((n, k) if (task == "multiclass" and what == "scores") else n, dt[psuf])
    w = np.ones(n)
    head = [A(t), A(p)] + ([A(w)] if weighted else []) + [n]
    if task == "binary":
        state = np.zeros(4, sdt)
        args = head + ([0.5] if what == "scores" else []) + [0, 0, A(state), 1]
        expect = {0: n}
    elif task == "multiclass":
        state = np.zeros(k * k, sdt)
        seen = np.zeros(k, np.uint8)
        args = head + [k, 0, 0, A(state), A(seen), 1]
        expect = {0: n}
    else:
        state = np.zeros(4 * k, sdt)
        samples = np.zeros((k + 1) * (k + 2) * (k + 3) // 6, sdt)
        args = head + [k] + ([0.5] if what == "scores" else []) + [A(state), A(samples),
                                                                   samples.size, 1]
        expect = {0: n, 4: n, 8: n}
    assert len(args) == len(argtypes)
    return _native.function(name)(*args), state, expect


def test_every_entry_point_counts():
    for name, (argtypes, _) in _native.entry_points().items():
        if not name.startswith(("tm_binary", "tm_multiclass", "tm_multilabel")):
            continue
        rc, state, expect = _call_any(name, argtypes)
        assert rc == 0, (name, _native.last_error())
        want = np.zeros_like(state)
        for i, v in expect.items():
            want[i] = v
        np.testing.assert_array_equal(state, want, err_msg=name)


def test_library_search_reports_where_it_looked(monkeypatch, tmp_path):
    bogus = tmp_path / "libtallyml_core.so"
    bogus.write_bytes(b"not an ELF file")
    lib = _native.library()
    try:
        monkeypatch.setenv(_native.ENV_VAR, str(tmp_path / "missing.so"))
        _native._reset_for_tests()
        with pytest.raises(_native.NativeLibraryError, match="missing.so .*no such file"):
            _native.library()
        assert not _native.available()
        monkeypatch.setenv(_native.ENV_VAR, str(bogus))
        _native._reset_for_tests()
        with pytest.raises(_native.NativeLibraryError, match="failed to load"):
            _native.library()
        monkeypatch.setenv(_native.ENV_VAR, lib.path)
        _native._reset_for_tests()
        assert _native.library().path == lib.path
    finally:
        monkeypatch.delenv(_native.ENV_VAR, raising=False)
        _native._reset_for_tests()
    assert _native.available()


def test_import_tallyml_does_not_load_the_library():
    import subprocess
    import sys

    code = ("import sys, tallyml; import tallyml._backends; "
            "assert 'tallyml._native' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
