"""Database engine settings that SQLAlchemy does not apply by itself."""

import logging

from flask import Flask, Response
from sqlalchemy import event
from sqlalchemy.engine import Engine

from webapp.extensions import db

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Turn on WAL, foreign keys and a busy timeout on every new SQLite connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # WAL lets the phone's sync write while the laptop reads; NORMAL is durable in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def checkpoint_after(response: Response) -> Response:
    """On SQLite, copy the WAL into the database once the response has gone out.

    SQLite checkpoints inside the commit that pushes the WAL past 1,000 pages, so every
    few sync batches one phone waited for a whole checkpoint (a 20-capture batch writes
    about 130 pages: every index on a random UUID takes a page per row). A PASSIVE
    checkpoint after each batch's response copies only that batch's pages, never waits
    for readers or writers, and keeps the WAL short, so commits no longer checkpoint.
    """
    engine = db.engine
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return response

    def checkpoint() -> None:
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # an optimization only: the commit-time checkpoint still works
            logger.warning("WAL checkpoint after a sync batch failed", exc_info=True)

    response.call_on_close(checkpoint)
    return response


def configure(app: Flask) -> None:
    """Set engine options that depend on the database, before the engine is made.

    PostgreSQL: no server-side prepared statements (psycopg's prepare_threshold=None), so
    every statement is planned with its actual values. Once a statement had been prepared
    (psycopg does it at the fifth run), PostgreSQL could switch to a generic plan; on tables
    without statistics yet (a new deployment, autovacuum not yet run) that plan looked up
    a batch's 20 ids by scanning every row of the user and filtering: each sync batch got
    slower as the user grew (docs/performance.md).
    """
    uri = str(app.config.get("SQLALCHEMY_DATABASE_URI", ""))
    if uri.startswith("postgresql"):
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault("prepare_threshold", None)


def init_app(app: Flask) -> None:
    """Attach engine listeners once the engine exists."""
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "postgresql":
            # An INSERT of many rows without RETURNING (idempotency records, handles, the
            # change log, drafts) goes as one multi-row statement instead of psycopg's
            # row-by-row executemany: ~80 fewer statements per 20-capture sync batch.
            engine.dialect.use_insertmanyvalues_wo_returning = True
        if engine.dialect.name == "sqlite" and not getattr(engine, "_hookline_pragmas", False):
            event.listen(engine, "connect", _sqlite_pragmas)
            engine._hookline_pragmas = True  # type: ignore[attr-defined]
