"""tinymeta: gradient-based meta-learning in NumPy + autograd, small enough to read in one sitting.

What a student reads and copies sits here: `mlp` (the model; its hand-derived fast path in
`mlp_fast`), `sinusoid` (the task family), and one module per algorithm (`maml`, `reptile`, ...).
Algorithm modules import only numpy and autograd, so any one of them can be copied out and used
with another model. The machinery that runs experiments (training, evaluation, the command line,
plots, benchmarks, the reproduction pipeline) is the subpackage `tinymeta.lab`.

Importing tinymeta tunes glibc's malloc (see keep_freed_memory); TINYMETA_KEEP_FREED_MEMORY=0 opts out.
"""
import ctypes
import os

__version__ = "0.1.0"


def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the system
    after every meta-iteration and asking for it again (page faults): a meta-iteration spends about a
    quarter of its time on that otherwise (`make bench`, tutorials/08-fast-gradients.md). Results do
    not change. The same as the environment MALLOC_MMAP_THRESHOLD_=4000000 MALLOC_TRIM_THRESHOLD_=100000000.
    Returns True if glibc took the setting (False elsewhere: nothing to tune)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return (libc.mallopt(-3, 4_000_000) == 1  # M_MMAP_THRESHOLD: arrays below 4 MB come from the heap
                and libc.mallopt(-1, 100_000_000) == 1)  # M_TRIM_THRESHOLD: keep up to 100 MB of it free
    except (OSError, AttributeError):
        return False


KEEPS_FREED_MEMORY = os.environ.get("TINYMETA_KEEP_FREED_MEMORY", "1") != "0" and keep_freed_memory()
