"""The pieces of ``bench/gpu_compile_check.py``: source scan, CuPy stand-in, replayed fits, NVRTC.

Only :mod:`.nvrtc` imports CuPy; the others also serve the CPU test suite.
"""
