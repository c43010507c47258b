"""bbbscale: an autoscaler for BigBlueButton fleets behind Scalelite.

`__version__` is the one place the version is written: setuptools reads it for the package metadata
(pyproject.toml, dynamic version), and the CLI, the tick's JSON and the Lambda logs print it. It lives
in the code, not only in the installed metadata, because Lambda runs chalicelib/ as a plain folder.
"""

__version__ = "0.1.0"
