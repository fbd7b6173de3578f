"""Data in: trajectories and datasets, reading files and columns, problem files,
simulation with scipy.
"""
