"""YAML-configured experiments (``jaxreg run``) and benchmark sweeps (``jaxreg sweep``).

No solver logic lives here: configs are validated, data is built, and ``jaxreg.fit`` or
the estimators are called.
"""
