"""Database engine settings that SQLAlchemy does not apply by itself."""

import logging

from flask import Flask, Response
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

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


def track_in_transaction(session: Session | scoped_session, key: str, value: object) -> None:
    """Keep value in session.info[key] with the (nested) transaction it was written in."""
    if isinstance(session, scoped_session):
        session = session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(key, []).append((transaction, value))


def drop_rolled_back(session: Session, key: str, rolled_back) -> list:
    """Forget what was tracked under key in rolled_back or a savepoint inside it; return it.

    For "after_soft_rollback" listeners: what a rolled-back savepoint wrote is gone, what
    its parent and siblings wrote stays tracked.
    """
    kept, dropped = [], []
    for transaction, value in session.info.get(key, []):
        ancestor = transaction
        while ancestor is not None and ancestor is not rolled_back:
            ancestor = ancestor.parent
        (kept if ancestor is None else dropped).append((transaction, value))
    session.info[key] = kept
    return [value for _, value in dropped]


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
