"""Shared foundations: errors, the safe expression parser, expression comparison
and the guarded ODE simulator.
"""
