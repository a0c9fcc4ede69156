"""Alembic environment: runs on the connection `storage.db.migrate` hands over."""

from alembic import context
from sqlmodel import SQLModel

import storage.tables  # noqa: F401 - registers every table on SQLModel.metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `python bot.py migrate`")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
