// The nn family's kernels (contract: csrc/KERNELS.md, "Neural networks"). The MLP engine they run on
// is shared with MADE (autoregressive/) and lives in common/mlp/, one header per job:
//   common/mlp/activations.hpp  activation codes, values and derivatives
//   common/mlp/layers.hpp       parameter layout, forward and backward passes (shared GEMM, fused epilogues)
//   common/mlp/losses.hpp       row-wise losses, reparameterised Gaussian draws and their KL
//   common/mlp/optim.hpp        Adam and SGD updates
//   common/mlp/train.hpp        a network with its optimiser state, what the steps share
//   common/mlp/rows.hpp         row blocks of a step (narrow networks): forward, backward, shared gradients
//   common/mlp/args.hpp         the bindings' argument checks (networks, optimiser state, hyper-parameters)
// Specific to this family:
//   nn/penalty.hpp              the WGAN-GP penalty's double backward
//   nn/steps_narrow.hpp         fused row-parallel training steps for narrow networks
//   nn/steps.hpp                fused training steps (autoencoder, VAE, GAN): dispatch, wide networks
//   nn/batches.hpp              row gathers and joins (minibatches, importance samples), the IWAE bound
#pragma once
#include "common/mlp/activations.hpp"
#include "common/mlp/layers.hpp"
#include "common/mlp/losses.hpp"
#include "common/mlp/optim.hpp"
#include "nn/batches.hpp"
#include "nn/penalty.hpp"
#include "nn/steps.hpp"
