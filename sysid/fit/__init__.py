"""Fitting the constants of a symbolic ODE through the solver: gray-box fits,
refits, polish, inner constants.
"""
