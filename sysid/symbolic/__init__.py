"""From the field to equations: term libraries, sparse regression, expression
search, the symbolic model.
"""
