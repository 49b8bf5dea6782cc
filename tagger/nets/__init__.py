"""Keras 3 network definitions, built in code (no pickled architectures)."""
