// The two fits of the linear autoregressive family: OLS (ar_ols.hpp) and Yule-Walker
// (ar_yule_walker.hpp), on the shared pass of lagged cross-products (ar_pass.hpp).
#pragma once

#include "autoregressive/ar_ols.hpp"
#include "autoregressive/ar_yule_walker.hpp"
