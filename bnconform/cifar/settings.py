"""Hyper-parameters shared by every framework, stated once.

Optimizer: Adam, Keras' defaults, the same numbers everywhere: learning rate 1e-3, beta1 0.9,
beta2 0.999, epsilon 1e-7 (PyTorch and optax default to 1e-8; we pass 1e-7 to both). One difference
remains in the formula, not the numbers: Keras adds epsilon to sqrt(v) before bias correction (the
paper's "epsilon hat"), PyTorch and optax to sqrt(v_hat) after it. Expressed in the PyTorch form, Keras'
epsilon is 1e-7 / sqrt(1 - 0.999^t): 3.2e-6 at step 1, 1.3e-7 at step 1000, 1e-7 in the limit; it
matters only for weights whose gradient RMS is that small. We keep each framework's own Adam (the
suite tests the frameworks, not a re-implementation).

Batch norm, in the Keras convention (``new = momentum * old + (1 - momentum) * batch``): momentum
0.99, epsilon 1e-3. PyTorch's ``momentum`` means the weight of the batch: 1 - 0.99 = 0.01; PyTorch
also updates the running variance with the unbiased batch variance (m / (m - 1); m = 32 for the BN
before Dense in model B, 3% larger; m >= 28,800 elsewhere). Flax takes the Keras convention
(momentum 0.99, epsilon 1e-3); we set ``use_fast_variance=False`` (two-pass variance
mean((x - mean)^2), as PyTorch and Keras compute it) instead of Flax's default E[x^2] - E[x]^2.

``BROKEN_BN``: the momentum meaning inverted (0.01 in the Keras convention, 0.99 in PyTorch's), the
classic porting bug; the moving statistics then become those of (almost only) the last batch.
"""

from __future__ import annotations

ADAM = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}
BN_MOMENTUM = 0.99  # Keras convention: weight of the old moving statistic
BN_EPSILON = 1e-3
BROKEN_BN_MOMENTUM = 1.0 - BN_MOMENTUM  # the inverted meaning, in the Keras convention


def bn_momentum(broken: bool) -> float:
    """The BN momentum in the Keras convention; ``broken`` inverts its meaning."""
    return BROKEN_BN_MOMENTUM if broken else BN_MOMENTUM
