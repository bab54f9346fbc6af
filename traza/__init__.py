"""The composition root: settings, the ``traza`` CLI, ``create_app`` and the worker runner.

This is the only package that imports every room (``bot``, ``bridge``, ``commands``, ``store``).
"""
