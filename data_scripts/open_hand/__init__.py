"""Procedural construction of the open hand model (a right hand in the MANO layout)."""
