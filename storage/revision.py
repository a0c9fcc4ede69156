"""Write a new Alembic migration by comparing the tables with a scratch database at head."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy.engine import Connection

from storage.db import alembic_config, create_engine, migrate


async def make_revision(message: str, rev_id: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'scratch.db'}")
        await migrate(engine)

        def revision(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True, rev_id=rev_id)

        async with engine.begin() as connection:
            await connection.run_sync(revision)
        await engine.dispose()


if __name__ == "__main__":
    import sys

    asyncio.run(make_revision(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
