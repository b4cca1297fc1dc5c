"""Handing the model's computing to another thread without making it slower.

PyTorch's CPU kernels run on OpenMP. GNU OpenMP (libgomp, which PyTorch's Linux wheels ship) keeps a pool of
worker threads for every thread that has computed, for as long as that thread lives. Once the pools together
hold more threads than there are CPUs, libgomp stops letting idle workers spin: each of the thousands of small
parallel regions in a decoding step then waits for a sleeping worker to wake. Streaming generation and
background training run in a second thread while the caller's pool sits idle, so they paid that price:
decoding 3 answers of 64 tokens took 5.2-5.4 s in a new thread against 3.5-3.8 s in the caller's thread, and
3.6-3.9 s in a new thread once the caller had released its pool (2 cores; docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable

_OMP_PAUSE_SOFT = 1  # omp_pause_resource_t: free the threads, keep the settings


@functools.cache
def _omp_pause_resource_all() -> Callable[[int], int] | None:
    # OpenMP 5.0's standard call; PyTorch loads its OpenMP runtime into the process's global namespace.
    try:
        return ctypes.CDLL(None).omp_pause_resource_all
    except (AttributeError, OSError, TypeError):  # no OpenMP 5 runtime loaded, or no global namespace (Windows)
        return None


def release_idle_workers() -> None:
    """Free this thread's idle OpenMP worker pool; OpenMP makes a new one the next time this thread computes."""
    pause = _omp_pause_resource_all()
    if pause is not None:
        pause(_OMP_PAUSE_SOFT)


def start_compute_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """Start ``target`` in a daemon thread that does the computing while the calling thread waits or polls."""
    release_idle_workers()
    thread = threading.Thread(target=target, daemon=True, name=name)
    thread.start()
    return thread
