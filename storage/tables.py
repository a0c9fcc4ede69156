"""Imports every module that defines tables, so SQLModel.metadata knows them all.

A feature that adds tables adds its module here.
"""

from storage.models import (  # noqa: F401 - each module registers its tables
    activities,
    behalf,
    common,
    council,
    org,
    points,
    reports,
    shop,
    voice,
    votes,
)
