"""Imports every module that defines tables, so SQLModel.metadata knows them all.

A feature that adds tables adds its module here.
"""

from storage import models, models_council, models_reports, models_votes  # noqa: F401
