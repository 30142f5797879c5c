"""S2H-Synth, the synthetic benchmark: generator, files on disk, datasets."""
