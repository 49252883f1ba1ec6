"""A progress bar for training: epoch, batches, images per second, running loss.

On a terminal it redraws one line (at most five times a second); otherwise (CI logs, pytest) it
prints one line per finished epoch. It writes to stderr so that stdout stays machine-readable.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, epochs: int, n_images: int, stream=None, enabled: bool = True,
                 live: bool | None = None):
        self.label, self.epochs, self.n = label, epochs, n_images
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        if live is None:
            live = getattr(self.stream, "isatty", lambda: False)()
        self.live = enabled and live
        self._last_draw = 0.0

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.seen, self.loss_sum = epoch, 0, 0.0
        self.t0 = time.perf_counter()

    def on_batch(self, images: int, loss: float) -> None:
        self.seen += images
        self.loss_sum += loss * images
        now = time.perf_counter()
        if self.live and (now - self._last_draw > 0.2 or self.seen == self.n):
            self._last_draw = now
            self._write("\r" + self._line(now) + "\x1b[K")

    def end_epoch(self, metrics: dict) -> None:
        if not self.enabled:
            return
        tail = f"  val_acc {metrics['val_accuracy']:.4f}" if "val_accuracy" in metrics else ""
        line = self._line(time.perf_counter()) + tail
        self._write(("\r" if self.live else "") + line + ("\x1b[K" if self.live else "") + "\n")

    def _line(self, now: float) -> str:
        width = 24
        done = int(width * self.seen / max(self.n, 1))
        rate = self.seen / max(now - self.t0, 1e-9)
        loss = self.loss_sum / max(self.seen, 1)
        return (f"{self.label} epoch {self.epoch + 1}/{self.epochs} [{'#' * done}{'.' * (width - done)}] "
                f"{self.seen}/{self.n} {rate:7.0f} img/s loss {loss:.4f}")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
