"""Datasets, the 2D detector and image transforms. Every dataset yields `HandSample`s."""
