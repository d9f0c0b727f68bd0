// Linear autoregressive models (AR and VAR, k >= 1 variables): the kernels of csrc/KERNELS.md,
// "Linear autoregressive models". An AR is the k = 1 case of every kernel.
//   ar_moments.hpp  the one pass of lagged cross-products (chunked, thread-count independent)
//   ar_gram.hpp     Gram matrix and autocovariances from those sums by boundary corrections
//   ar_linalg.hpp   Cholesky, LU and Levinson-Durbin on the small systems
//   ar_fit.hpp      ar_ols, ar_yule_walker (many series per call)
//   ar_predict.hpp  ar_sse, ar_forecast, ar_simulate
#pragma once
#include "autoregressive/ar_fit.hpp"
#include "autoregressive/ar_predict.hpp"
