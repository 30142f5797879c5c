"""Notebook helpers: parameters and papermill runs (`notebook`), the notebooks' teaching steps
(`teaching`), their exercises and checks (`exercises`), and the image- against video-trained
comparison of notebook 08 (`video_compare`).
"""

from s2h_lib.lab.notebook import parameters_from_namespace, run_notebook

__all__ = ["parameters_from_namespace", "run_notebook"]
