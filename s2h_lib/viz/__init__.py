"""Pictures: meshes, skeletons and image grids (`figures`), prediction overlays, the browser
views of a run, the hand explorer widget, and the pose sheet of `s2h mano poses` (`mano_poses`).
"""

from s2h_lib.viz.figures import contact_sheet, image_grid, mesh_figure, mesh_grid

__all__ = ["contact_sheet", "image_grid", "mesh_figure", "mesh_grid"]
