"""Benchmarks of the whole bot: the real bot process against the local Discord and a provider simulator.

``python -m bench.load`` is the load benchmark; its module docstring defines every figure it reports.
"""
