"""The moalab benchmark suite (run it with ``moalab bench``; see README.md here).

Nothing in this package imports moalab at import time: ``pymoa_side`` runs in
PyMoa's own virtual environment, where moalab is not installed, and shares
``common`` and ``workloads`` with ``moalab_side``.
"""
