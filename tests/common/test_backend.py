"""fastgen._backend.Backend, the one object between estimators and kernels: device resolution, the
kernel module, one conversion per input, device arrays kept on the device (simulator or GPU),
pickling, and the estimators' use of it (no estimator imports _core or _cuda)."""
from __future__ import annotations

import pathlib
import pickle

import numpy as np
import pytest

import fastgen
from fastgen import _backend
from fastgen._backend import Backend

SRC = pathlib.Path(fastgen.__file__).parent


def test_cpu_backend_resolves_and_serves_core():
    be = Backend("cpu", np.float32)
    assert be.device == "cpu" and be.dtype == np.float32 and not be.is_cuda
    assert be.kernels is fastgen._core
    assert hasattr(be.kernels.hmm, "forward_backward")


@pytest.mark.parametrize("bad", ["gpu", None, 1])
def test_unknown_device_is_an_error(bad):
    with pytest.raises(ValueError, match="device must be one of"):
        Backend(bad)


def test_bad_dtype_is_an_error():
    with pytest.raises(TypeError, match="float32 or float64"):
        Backend("cpu", np.int32)


def test_put_converts_once_and_keeps_contiguous_arrays():
    be = Backend("cpu", np.float64)
    a = np.arange(6.0).reshape(2, 3)
    assert be.put(a) is a                                   # already right: no copy
    f = be.put(np.asfortranarray(a))
    assert f.flags.c_contiguous and np.array_equal(f, a)
    assert be.put(np.arange(3, dtype=np.int32)).dtype == np.int64   # integers -> int64
    assert be.put(a, np.float32).dtype == np.float32
    p = be.put_private(a)
    assert p is not a and np.array_equal(p, a)
    assert be.zeros((2, 2)).dtype == np.float64


def test_host_and_check_array():
    be = Backend("cpu", np.float32)
    assert be.host(None) is None
    assert be.host(np.ones(2), np.float64).dtype == np.float64
    X = be.check_array([[1, 2], [3, 4]])
    assert X.dtype == np.float32 and X.flags.c_contiguous
    with pytest.raises(ValueError, match="NaN or infinity"):
        be.check_array(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"is expecting 3 features"):
        be.check_array(np.ones((2, 2)), n_features=3)
    assert be.check_array([[1, 2]], dtype=np.float64).dtype == np.float64


def test_first_outside_names_the_first_bad_element(device):
    """The value checks of every family (counts, symbols, data in [0, 1]): the first element that is
    not finite, outside the bounds or not whole, by C-order index, on either side of the backend."""
    be = Backend(device, np.float64)
    x = np.array([[0.0, 1.0, 2.0], [3.0, 0.5, -1.0]])
    for X in (x, be.put(x)):
        assert be.first_outside(X) is None
        assert be.first_outside(X, 0, 3) == ((1, 2), -1.0)
        assert be.first_outside(X, -1, 3, integral=True) == ((1, 1), 0.5)
        assert be.first_outside(X, -1, 2.5) == ((1, 0), 3.0)
    y = x.copy()
    y[0, 2] = np.nan
    index, value = be.first_outside(be.put(y))
    assert index == (0, 2) and np.isnan(value)
    ints = be.put(np.array([0, 3, 7]))
    assert be.first_outside(ints, 0, 5, integral=True) == ((2,), 7)


def test_pickles_as_its_arguments():
    be = pickle.loads(pickle.dumps(Backend("auto", np.float32)))
    assert be.dtype == np.float32 and be.device in ("cpu", "cuda") and be.kernels is not None
    assert be.made_for("auto", np.float32) and not be.made_for("cpu", np.float64)
    assert be.with_dtype(np.float64).dtype == np.float64 and be.with_dtype(np.float32) is be


def test_estimators_pickle_without_their_backend():
    from fastgen import GaussianHMM
    m = GaussianHMM(2, n_iter=2, random_state=0, device="cpu").fit(np.random.default_rng(0).normal(size=(30, 2)))
    assert "_backend" not in m.__getstate__()
    m2 = pickle.loads(pickle.dumps(m))
    assert np.array_equal(m2.predict(np.zeros((3, 2))), m.predict(np.zeros((3, 2))))


def test_no_estimator_imports_the_kernel_modules():
    """Only _backend (and the kernel packages themselves) import _core or _cuda."""
    allowed = {"_backend.py", "_threads.py"}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("_cuda", "_core") or rel.name in allowed:
            continue
        imports = [line.strip() for line in path.read_text().splitlines()
                   if line.strip().startswith(("import ", "from "))]
        for line in imports:
            assert "_core" not in line and "_cuda" not in line, \
                f"{rel} imports the kernels directly ({line!r}); use fastgen._backend.Backend"


cuda = pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")


@pytest.mark.cuda
@cuda
def test_device_arrays_stay_on_the_device():
    from numba import cuda as nb_cuda
    be = Backend("cuda", np.float32)
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    d = nb_cuda.to_device(np.asfortranarray(x))
    out = be.check_array(d)
    assert hasattr(out, "copy_to_host") and out.dtype == np.float32   # cast on the device
    assert np.array_equal(out.copy_to_host(), x.astype(np.float32))
    same = nb_cuda.to_device(x.astype(np.float32))
    assert be.put(same) is same                                      # already right: used in place
    x[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"first at index \(1, 2\)"):
        be.check_array(nb_cuda.to_device(x))
    with pytest.raises(ValueError, match=r"is expecting 5 features"):
        be.check_array(nb_cuda.to_device(np.ones((2, 4))), n_features=5)
    cpu = Backend("cpu", np.float64)
    assert isinstance(cpu.put(nb_cuda.to_device(np.ones(3))), np.ndarray)   # CPU: one copy back


def test_device_metadata_of_a_foreign_dtype():
    """A PyTorch CUDA tensor's dtype (torch.float32) is no NumPy dtype: its shape and element type
    come from ``__cuda_array_interface__`` instead (no data is touched)."""
    class TorchLike:
        shape = (3, 4)
        dtype = object()   # np.dtype() of this raises TypeError, as of torch.float32
        __cuda_array_interface__ = {"shape": (3, 4), "typestr": "<f4", "data": (0, False), "version": 3}

    assert _backend._device_meta(TorchLike()) == ((3, 4), np.dtype(np.float32))
