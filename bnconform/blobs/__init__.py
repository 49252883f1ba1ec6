"""The course's two-blob experiment, end to end in every framework (issue 13).

The third lecture trains a deep MLP with batch norm on a 2-D problem of two Gaussian blobs and
reports test accuracy 0.86 without BN and 0.84 with it. Unlike CIFAR-10, this problem has an exact
answer: the Bayes-optimal accuracy p* = Phi(d / (2 sigma)) = 0.8461. Every framework trains the
lecture's networks from the same NumPy weights in the same data order (the CIFAR-10 harness's
weights and streams; the targets, trainer contract and worker processes of
:mod:`bnconform.training` and :mod:`bnconform.app.runner`), and each run is checked against known answers
rather than recorded baselines:

- its test accuracy must lie in the binomial sampling band of p* for the 250 test points
  (:mod:`bnconform.blobs.bayes`; with BN after recalibrating the moving statistics, see :mod:`bnconform.blobs.verdict`);
- with BN, its moving statistics must decay by exactly momentum^steps (a twin run with shifted
  initial statistics, :mod:`bnconform.blobs.verdict`): this is what catches the planted bug, the momentum's
  meaning inverted, which the accuracy does not see;
- the lecture's claim that BN overfits less is measured (the gap between validation and training
  loss with and without BN) and only the direction that held on every seed is gated.

A run takes seconds, so CI trains every target (:mod:`bnconform.blobs.matrix`).

Modules, one concept each:

- ``data``     the fixed draw (NumPy only) and the Bayes rule;
- ``bayes``    p*, the sampling band (the statistics are written down there);
- ``models``   the deep and shallow networks and their protocols;
- ``backends`` one trainer per target (Keras on each backend, PyTorch, Flax linen), on the shared
  trainer contract and per-framework machinery of :mod:`bnconform.training`;
- ``train``    the framework-neutral loop, recalibration, the twin run, the record;
- ``verdict``  the checks and the verdict of a run; the loss gaps;
- ``matrix``   which runs CI trains;
- ``worker``   the job (:class:`~bnconform.blobs.worker.Job`) and what its worker process computes
  (:mod:`bnconform.app.runner` starts the process);
- ``report``   text tables;
- :mod:`bnconform.app.blobs_cli` is ``python -m bnconform.blobs ...``.
"""
