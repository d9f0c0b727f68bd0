// MLP activations (contract: csrc/KERNELS.md, "Neural networks"): the codes, each activation's
// value from z, and its first and second derivatives from the activation value a (the engine keeps
// no z). The functions are templated on the code so that a kernel switches once, outside its loop
// (with_act), and the loop body is branch-free scalar code the compiler vectorises; they are always
// inlined, so each ISA-specific caller gets its own vector version.
#pragma once
#include <cstdint>
#include <type_traits>

#include "common/isa.hpp"
#include "common/vmath.hpp"

namespace fastgen::nn {

enum class Act : int32_t { identity = 0, relu = 1, leaky_relu = 2, tanh = 3, sigmoid = 4, softplus = 5 };

inline bool valid_act(int32_t code) { return code >= 0 && code <= 5; }

// a = act(z). leaky_relu uses `slope` (0 < slope < 1); the others ignore it.
template <Act A, class T>
FG_ALWAYS_INLINE T act_value(T z, T slope) {
  if constexpr (A == Act::identity) return z;
  else if constexpr (A == Act::relu) return z > T(0) ? z : T(0);
  else if constexpr (A == Act::leaky_relu) return z > T(0) ? z : slope * z;
  else if constexpr (A == Act::tanh) return simd::tanh_vec(z);
  else if constexpr (A == Act::sigmoid) return simd::sigmoid(z);
  else return static_cast<T>(simd::softplus(static_cast<double>(z)));  // log(1 + e^z), stable
}

// act'(z) from a = act(z): relu 1[a > 0]; leaky 1 if a > 0 else slope; tanh 1 - a^2;
// sigmoid a (1 - a); softplus sigmoid(z) = 1 - e^-a = -expm1(-a); identity 1.
template <Act A, class T>
FG_ALWAYS_INLINE T act_deriv(T a, T slope) {
  if constexpr (A == Act::identity) return T(1);
  else if constexpr (A == Act::relu) return a > T(0) ? T(1) : T(0);
  else if constexpr (A == Act::leaky_relu) return a > T(0) ? T(1) : slope;
  else if constexpr (A == Act::tanh) return T(1) - a * a;
  else if constexpr (A == Act::sigmoid) return a * (T(1) - a);
  else return -simd::expm1_vec(-a);
}

// act''(z) from a: tanh -2a (1 - a^2); sigmoid a (1 - a)(1 - 2a); softplus s (1 - s),
// s = -expm1(-a); identity, relu, leaky 0 (almost everywhere).
template <Act A, class T>
FG_ALWAYS_INLINE T act_deriv2(T a, T slope) {
  (void)slope;
  if constexpr (A == Act::tanh) return T(-2) * a * (T(1) - a * a);
  else if constexpr (A == Act::sigmoid) return a * (T(1) - a) * (T(1) - T(2) * a);
  else if constexpr (A == Act::softplus) {
    const T s = -simd::expm1_vec(-a);
    return s * (T(1) - s);
  } else return T(0);
}

// Calls f(std::integral_constant<Act, A>{}) for the activation `code` (checked by the caller:
// valid_act), so the switch happens once per loop, not per element.
template <class F>
FG_ALWAYS_INLINE decltype(auto) with_act(int32_t code, F&& f) {
  switch (static_cast<Act>(code)) {
    case Act::relu: return f(std::integral_constant<Act, Act::relu>{});
    case Act::leaky_relu: return f(std::integral_constant<Act, Act::leaky_relu>{});
    case Act::tanh: return f(std::integral_constant<Act, Act::tanh>{});
    case Act::sigmoid: return f(std::integral_constant<Act, Act::sigmoid>{});
    case Act::softplus: return f(std::integral_constant<Act, Act::softplus>{});
    default: return f(std::integral_constant<Act, Act::identity>{});
  }
}

// x[i] = act(x[i]) for i < n (in place: a layer's z becomes its a).
template <Act A, class T>
FG_ALWAYS_INLINE void act_apply_row(int64_t n, T* x, T slope) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] = act_value<A>(x[i], slope);
}

// dz[i] = da[i] * act'(a[i]) for i < n (dz may be da).
template <Act A, class T>
FG_ALWAYS_INLINE void act_backprop_row(int64_t n, const T* a, const T* da, T* dz, T slope) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dz[i] = da[i] * act_deriv<A>(a[i], slope);
}

// Run-time-code versions (one element; for scalar code and tests, not for hot loops).
template <class T>
inline T act_value(int32_t code, T z, T slope) {
  return with_act(code, [&](auto c) { return act_value<decltype(c)::value>(z, slope); });
}
template <class T>
inline T act_deriv(int32_t code, T a, T slope) {
  return with_act(code, [&](auto c) { return act_deriv<decltype(c)::value>(a, slope); });
}
template <class T>
inline T act_deriv2(int32_t code, T a, T slope) {
  return with_act(code, [&](auto c) { return act_deriv2<decltype(c)::value>(a, slope); });
}

}  // namespace fastgen::nn
