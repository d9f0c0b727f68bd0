// MLP engine kernels (contract: csrc/KERNELS.md, "Neural networks"), one header per job:
//   nn_activations.hpp  activation codes, values and derivatives
//   nn_layers.hpp       parameter layout, forward and backward passes (shared GEMM, fused epilogues)
//   nn_losses.hpp       row-wise losses, reparameterised Gaussian draws and their KL
//   nn_optim.hpp        Adam and SGD updates
//   nn_penalty.hpp      the WGAN-GP penalty's double backward
//   nn_train.hpp        a network with its optimiser state, what the steps share
//   nn_rows.hpp         row blocks of a step (narrow networks): forward, backward, shared gradients
//   nn_steps_narrow.hpp fused row-parallel training steps for narrow networks
//   nn_steps.hpp        fused training steps (autoencoder, VAE, GAN): dispatch, wide networks
#pragma once
#include "common/mlp/activations.hpp"
#include "common/mlp/layers.hpp"
#include "common/mlp/losses.hpp"
#include "common/mlp/optim.hpp"
#include "nn/penalty.hpp"
#include "nn/steps.hpp"
