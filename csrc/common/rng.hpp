// Philox4x32-10 counter-based generator (Salmon et al., SC'11; Random123 constants).
// Counter = (block index: lo, hi, stream: lo, hi); key = (seed lo, seed hi). Stateless: the n-th
// uniform of a stream depends only on (seed, stream, n), so draws do not depend on thread count
// and match the Numba device implementation in fastgen/_cuda/rng.py bit for bit.
#pragma once
#include <cmath>
#include <cstdint>

namespace fastgen::rng {

struct Block { uint32_t x[4]; };

inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

inline Block philox4x32_10(Block c, uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    if (r > 0) { k0 += W0; k1 += W1; }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(M0, c.x[0], hi0, lo0);
    mulhilo(M1, c.x[2], hi1, lo1);
    c = Block{{hi1 ^ c.x[1] ^ k0, lo1, hi0 ^ c.x[3] ^ k1, lo0}};
  }
  return c;
}

// 53-bit uniform in (0, 1] from two 32-bit words: never 0; (2^53 - 1 + 0.5) 2^-53 rounds to 1.0
// (probability 2^-53), harmless for the `u < p` comparisons every consumer makes.
inline double to_unit(uint32_t a, uint32_t b) {
  return ((a >> 5) * 67108864.0 + (b >> 6) + 0.5) * (1.0 / 9007199254740992.0);
}

// Uniform u[n] of stream `stream` under key `seed`.
struct Stream {
  uint32_t k0, k1, s0, s1;
  Stream(uint64_t seed, uint64_t stream)
      : k0(static_cast<uint32_t>(seed)), k1(static_cast<uint32_t>(seed >> 32)),
        s0(static_cast<uint32_t>(stream)), s1(static_cast<uint32_t>(stream >> 32)) {}
  Block block(uint64_t b) const {
    return philox4x32_10(Block{{static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32), s0, s1}}, k0, k1);
  }
  double uniform(uint64_t n) const {
    const Block x = block(n >> 1);
    return (n & 1) ? to_unit(x.x[2], x.x[3]) : to_unit(x.x[0], x.x[1]);
  }
  // Normals z[2i], z[2i+1] by Box-Muller on (u[2i], u[2i+1]), i.e. one Philox block.
  void normal_pair(uint64_t i, double& z0, double& z1) const {
    const Block x = block(i);
    const double u0 = to_unit(x.x[0], x.x[1]), u1 = to_unit(x.x[2], x.x[3]);
    const double r = std::sqrt(-2.0 * std::log(u0));
    constexpr double two_pi = 6.283185307179586476925286766559;
    z0 = r * std::cos(two_pi * u1);
    z1 = r * std::sin(two_pi * u1);
  }
};

}  // namespace fastgen::rng
