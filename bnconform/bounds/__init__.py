"""The tolerance model: one module per op computes its error terms once, and two tiers judge them.

- the **worst-case tier** applies Higham's gamma_n = n u / (1 - n u) to every reduction of n terms
  (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. (3.4)) and holds each
  output element to the bound on its own (``<op>.tolerance``; ``bnconform.tolerance`` is its public
  face, with the known deviations' other numerics);
- the **statistical tier** applies Higham and Mary's probabilistic lambda sqrt(n) u (SIAM J. Sci.
  Comput. 41(5), 2019, Theorem 3.1) to the same terms and looks at the elements together: per
  feature fits of the shared errors, per-output and per-feature totals (``<op>.findings``, with the
  fits of ``fits``). It runs for the default model only.

Modules: ``roundoff`` (u, u_acc, the safety factor, the floor), ``reduction`` (the two reduction
bounds), ``batch_stats`` (batch norm's mean, variance, sigma and x_hat errors), ``bn_forward``,
``bn_backward``, ``moving_stats``, ``conv2d``, ``pool2d`` (one op each) and ``fits`` (the statistical
tier's fits and findings). docs/tolerances.md derives the model.
"""
