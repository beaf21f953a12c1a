"""Ratio benchmarks: patinox against raw httpx, the framework floors and the anchor packages.

Run ``python -m benchmarks.run [--quick]``; see ``benchmarks/README.md``.
"""
