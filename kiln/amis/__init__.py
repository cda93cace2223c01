"""Kiln's AMIs: the registry of machine images (rows) and the image store (disk files)."""
