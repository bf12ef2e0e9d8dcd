"""京策助手: retrieval and answers over Beijing policy documents."""

import os

# OpenBLAS threads spinning against the embedder's OpenMP threads made query embedding 8x slower on
# 2 cores (116 ms vs 14 ms, shared/MEASUREMENTS.md). The numpy work here is small; keep it on one
# thread. Set before anything imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
