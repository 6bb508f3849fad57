"""The malloc setting of the commands that run long loops (train, demo, bench, reproduce run).

A meta-iteration creates and frees a few megabytes of arrays. By default glibc's malloc hands freed memory
back to the operating system and asks for it again on the next iteration, and the kernel zeroes every page
anew (results/README.md measures what that costs). Importing tinymeta changes nothing: each of those
commands calls keep_freed_memory() before its loop. It changes where arrays live, never a number in them.
"""
import ctypes
import os


def keep_freed_memory():
    """Ask glibc's malloc to serve arrays below 4 MB from its heap and to keep up to 100 MB of it free for
    reuse, for the rest of the process: the same as the environment MALLOC_MMAP_THRESHOLD_=4000000
    MALLOC_TRIM_THRESHOLD_=100000000. Returns True if glibc took the setting; False where there is nothing
    to tune (not glibc) or when the environment has TINYMETA_KEEP_FREED_MEMORY=0."""
    if os.environ.get("TINYMETA_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return (libc.mallopt(-3, 4_000_000) == 1  # M_MMAP_THRESHOLD: arrays below 4 MB come from the heap
                and libc.mallopt(-1, 100_000_000) == 1)  # M_TRIM_THRESHOLD: keep up to 100 MB of it free
    except (OSError, AttributeError):
        return False
