"""Imports every module that defines tables, so SQLModel.metadata knows them all.

A feature that adds tables adds its module here.
"""

from storage import (  # noqa: F401 - each module registers its tables
    models,
    models_council,
    models_points,
    models_reports,
    models_votes,
)
