"""Prefect flows: thin orchestration of regions, acquisition, annotation, patching and training.

Prefect itself is imported by the flow modules, not here, so ``l4s --help`` stays fast.
"""
