"""Imports every module that defines tables, so SQLModel.metadata knows them all.

A feature that adds tables adds its module here.
"""

from storage import (
    models,  # noqa: F401
    models_points,  # noqa: F401
)
