"""Training progress: epoch, images, images per second, running loss.

Live (a terminal, not under ``CI=true``: :func:`bnconform.app.progress.wanted`, decided by the parent
and passed in ``Job.live``; a trainer never decides it): a ``tqdm`` bar per epoch, redrawn at most five times a second.
Otherwise (CI logs, pytest, several runs at once) one line per finished epoch. Always on stderr,
so that stdout stays machine-readable; ``enabled=False`` (``--no-progress``) prints nothing.
"""

from __future__ import annotations

import os
import sys
import time


class Progress:
    def __init__(self, label: str, epochs: int, n_images: int, stream=None, enabled: bool = True,
                 live: bool = False):
        self.label, self.epochs, self.n = label, epochs, n_images
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = enabled and live
        self._bar = None

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.seen, self.loss_sum = epoch, 0, 0.0
        self.t0 = time.perf_counter()
        if self.live:
            from tqdm import tqdm

            # the worker's stderr is a pipe: the width comes from $COLUMNS (else 100), not a probe
            self._bar = tqdm(total=self.n, desc=f"{self.label} epoch {epoch + 1}/{self.epochs}",
                             unit="img", unit_scale=True, file=self.stream, mininterval=0.2,
                             ncols=int(os.environ.get("COLUMNS") or 100), leave=True)

    def on_batch(self, images: int, loss: float) -> None:
        self.seen += images
        self.loss_sum += loss * images
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss {self.loss_sum / max(self.seen, 1):.4f}", refresh=False)
            self._bar.update(images)

    def end_epoch(self, metrics: dict) -> None:
        tail = f"  val_acc {metrics['val_accuracy']:.4f}" if "val_accuracy" in metrics else ""
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss {self.loss_sum / max(self.seen, 1):.4f}{tail}")
            self._bar.close()
            self._bar = None
        elif self.enabled:
            self.stream.write(self._line(time.perf_counter()) + tail + "\n")
            self.stream.flush()

    def _line(self, now: float) -> str:
        rate = self.seen / max(now - self.t0, 1e-9)
        loss = self.loss_sum / max(self.seen, 1)
        return (f"{self.label} epoch {self.epoch + 1}/{self.epochs} {self.seen}/{self.n} "
                f"{rate:7.0f} img/s loss {loss:.4f}")
