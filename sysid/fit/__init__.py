"""Fitting the constants of a symbolic ODE through the solver: one engine
(:mod:`sysid.fit.engine`) and its front ends -- gray-box fits
(:mod:`sysid.fit.graybox`), refits (:mod:`sysid.fit.refit`, windows in
:mod:`sysid.fit.shooting`), polish (:mod:`sysid.fit.polish`) and inner constants
(:mod:`sysid.fit.inner`).
"""
