// Array checks shared by the bindings. Bindings never convert silently: dtype and layout are
// fixed once in Python (fastgen._backend), here they are only checked, with the argument named.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>

#include "common/nogil.hpp"

namespace fastgen::bind {
namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::ostringstream os;
  os << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.shape(i);
  os << (a.ndim() == 1 ? ",)" : ")");
  return os.str();
}

// True when `a` holds T: numpy's type equivalence, not descriptor identity (an unpickled float32
// array carries its own, equivalent descriptor, which identity refused as "expected float32, got float32").
template <class T>
bool holds(const py::array& a) {
  return py::detail::npy_api::get().PyArray_EquivTypes_(a.dtype().ptr(), py::dtype::of<T>().ptr());
}

// Checks dtype T, C-contiguity and shape (-1 = any extent); returns the data pointer.
template <class T>
const T* in(const py::array& a, const char* name, std::initializer_list<int64_t> shape) {
  if (!holds<T>(a))
    throw py::type_error(std::string(name) + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) +
                         ", got " + std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw std::invalid_argument(std::string(name) + ": expected a C-contiguous array");
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  int i = 0;
  for (int64_t s : shape) {
    if (!ok) break;
    ok = s < 0 || a.shape(i) == s;
    ++i;
  }
  if (!ok) {
    std::ostringstream os;
    os << name << ": expected shape (";
    i = 0;
    for (int64_t s : shape) os << (i++ ? ", " : "") << (s < 0 ? std::string("*") : std::to_string(s));
    os << (shape.size() == 1 ? ",)" : ")") << ", got " << shape_str(a);
    throw std::invalid_argument(os.str());
  }
  return static_cast<const T*>(a.data());
}

// Offsets must start at 0, end at N and increase strictly: kernels index frames through them.
inline const int64_t* offsets_in(const py::array& a, int64_t N) {
  const int64_t* o = in<int64_t>(a, "offsets", {-1});
  const int64_t n = a.shape(0);
  if (n < 2) throw std::invalid_argument("offsets: need at least one sequence (length >= 2)");
  if (o[0] != 0 || o[n - 1] != N)
    throw std::invalid_argument("offsets: must start at 0 and end at n_samples=" + std::to_string(N));
  for (int64_t i = 1; i < n; ++i)
    if (o[i] <= o[i - 1]) throw std::invalid_argument("offsets: sequence lengths must be positive");
  return o;
}

// Symbols must lie in [0, M): they index the emission table.
inline void check_symbols(const int64_t* X, int64_t N, int64_t M) {
  for (int64_t n = 0; n < N; ++n)
    if (X[n] < 0 || X[n] >= M)
      throw std::invalid_argument("X: symbol " + std::to_string(X[n]) + " at row " + std::to_string(n) +
                                  " outside [0, " + std::to_string(M) + ")");
}

template <class T>
py::array_t<T> out(std::initializer_list<py::ssize_t> shape) {
  return py::array_t<T>(std::vector<py::ssize_t>(shape));
}

template <class T>
T* ptr(py::array_t<T>& a) { return a.mutable_data(); }

// Calls f(T{}) for the float dtype of `ref` (float32 or float64).
template <class F>
auto by_float_dtype(const py::array& ref, const char* name, F&& f) {
  if (holds<double>(ref)) return f(double{});
  if (holds<float>(ref)) return f(float{});
  throw py::type_error(std::string(name) + ": expected float32 or float64, got " + std::string(py::str(ref.dtype())));
}

}  // namespace fastgen::bind
