// One CD-k / PCD-k training step in one call (contract: csrc/KERNELS.md, "Restricted Boltzmann
// machines"): the batch's p(h | v), k sweeps h -> v -> h of the negative chains, and the update,
// with one transposed copy of W for both phases and no arrays handed back to Python between them.
// The same bits as hidden_probs (PCD) or sample_hiddens (CD), gibbs_hvh and cd_update called in
// turn on the same streams.
#pragma once

#include "rbm/energy.hpp"

namespace fastgen::rbm {

// The phases' results that the update reads.
template <class T>
struct Phases {
  Buf<T> P_pos, V_neg, P_neg;
};

// Positive and negative phases of a step on the batch Vb [B, V]. PCD (chains set): the C chains
// [C, H] sweep from their hidden states, which the last sweep's draws replace (only once every
// sweep is done: an interrupted step leaves them as they were). CD (chains null): the chains are
// the batch's hidden draws (C = B, stream `stream`), and the sweeps take the streams after it.
template <class T>
Phases<T> step_phases(const Model<T>& mdl, int64_t B, const T* Vb, int64_t C, T* chains, int64_t k, uint64_t seed,
                      uint64_t stream) {
  const int64_t H = mdl.H, V = mdl.V;
  Phases<T> ph{buf<T>(B * H), buf<T>(C * V), buf<T>(C * H)};
  const Prepared<T> pr(mdl);
  Buf<T> S0, S = buf<T>(C * H);
  if (chains) {
    hidden_phase<T>(mdl, pr, B, Vb, nullptr, ph.P_pos.get(), nullptr);
  } else {
    S0 = buf<T>(B * H);
    const rng::Stream rs(seed, stream++);
    hidden_phase(mdl, pr, B, Vb, &rs, ph.P_pos.get(), S0.get());
  }
  gibbs_hvh(mdl, pr, C, chains ? chains : S0.get(), k, seed, stream, ph.V_neg.get(), ph.P_neg.get(), S.get());
  if (chains) std::copy(S.get(), S.get() + C * H, chains);
  return ph;
}

}  // namespace fastgen::rbm
