"""The progress line of a training run on stderr."""
import sys
import time


class Progress:
    """Iteration, smoothed meta-loss, it/s and time left on stderr: one updating line on a
    terminal, otherwise a line every ~10%; nothing when quiet."""

    def __init__(self, name, first, total, quiet, stream=None):
        self.name, self.first, self.total, self.quiet = name, first, total, quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = self.shown = time.monotonic()
        self.smooth = None
        self.next_mark = first + 1  # a first line at once, then one every ~10%

    def update(self, iteration, loss):
        self.smooth = loss if self.smooth is None else 0.98 * self.smooth + 0.02 * loss
        now = time.monotonic()
        if self.quiet or (self.tty and now - self.shown < 0.2 and iteration < self.total):
            return
        if not self.tty and iteration < self.next_mark and iteration < self.total:
            return
        step = max(1, (self.total - self.first) // 10)
        self.shown, self.next_mark = now, self.first + ((iteration - self.first) // step + 1) * step
        rate = (iteration - self.first) / max(now - self.t0, 1e-9)
        hours, seconds = divmod(int((self.total - iteration) / max(rate, 1e-9)), 3600)
        left = (f"{hours}:" if hours else "") + f"{seconds // 60:02d}:{seconds % 60:02d}"
        line = f"{self.name} {iteration}/{self.total}  loss {self.smooth:.4g}  {rate:.1f} it/s  left {left}"
        self.stream.write(f"\r{line}\033[K" if self.tty else line + "\n")
        self.stream.flush()

    def note(self, text):
        """A line of its own on the stream, even when quiet (a warning is not progress); returns True."""
        self.stream.write(("\r\033[K" if self.tty and not self.quiet else "") + text + "\n")
        self.stream.flush()
        return True

    def close(self):
        if self.tty and not self.quiet and self.smooth is not None:
            self.stream.write("\n")
