"""Importable only through the layer directory: proves layers are on the worker's path."""

FROM_LAYER = True
