"""Many-row INSERTs for the ingest hot path, with little Python between the rows and the driver.

A Core INSERT through SQLAlchemy costs a few hundred microseconds a statement in Python
(finding the compiled form, an execution context, a parameter dict a row) and a few
microseconds a value (type processing). A sync batch of 20 captures writes seven tables
inside the database's write lock, so that was most of the lock's time
(docs/performance.md). Here a table's statement text and per-column work are worked out
once, and the rows go to the driver's cursor as tuples (executemany on SQLite; on
PostgreSQL a COPY, or one INSERT with a VALUES list for a row or two). Column defaults are
those of the model, and times and JSON are converted with SQLAlchemy's own bind
processors for the column types, so what is stored is exactly what a Core INSERT would
have stored. select_rows does the same for the hot path's few lookups.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, exc
from sqlalchemy.engine import Connection, Dialect

_MISSING = object()
#: PostgreSQL's limit of bound parameters in one statement is 65,535.
_MAX_PARAMS = 30000
#: From this many rows PostgreSQL gets a COPY: for 20 rows of encounters it took 1.2 ms
#: where one INSERT with a VALUES list took 2.8 ms (every value a bound parameter to parse);
#: for a single row the INSERT is quicker (0.3 ms against 0.4 ms).
COPY_FROM_ROWS = 3


class _Plan:
    """How the rows of one table reach the driver: statement, defaults, conversions."""

    def __init__(self, table: Table, dialect: Dialect, with_id: bool) -> None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        columns = [c for c in table.columns if with_id or not c.primary_key]
        self.names = [column.name for column in columns]
        #: every column's value for a row without it: a scalar default, None, or _MISSING
        self.defaults: dict[str, Any] = {}
        #: (name, default factory) for columns whose default is made per row
        self.factories: list[tuple[str, Callable[[], Any]]] = []
        #: (name, bind processor) for columns whose values the driver cannot take as they are
        self.converters: list[tuple[str, Callable[[Any], Any]]] = []
        for column in columns:
            default = column.default
            if default is not None and default.is_scalar:
                self.defaults[column.name] = default.arg
            elif default is not None and default.is_callable:
                self.defaults[column.name] = _MISSING
                self.factories.append((column.name, lambda make=default.arg: make(None)))
            else:
                self.defaults[column.name] = None
            convert = column.type._cached_bind_processor(dialect)
            if convert is not None:
                self.converters.append((column.name, convert))
        #: a row dict's values in the statement's column order, as a tuple (in C)
        self.row_values: Callable[[dict[str, Any]], tuple] = (
            itemgetter(*self.names) if len(self.names) > 1 else lambda row: (row[self.names[0]],)
        )
        names = ", ".join(f'"{c.name}"' for c in columns)
        marks = ", ".join([mark] * len(columns))
        self.marks = f"({marks})"
        # Names from the models' metadata, never from input; the values are bound parameters.
        self.sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608
        self.copy_sql = f"COPY {table.name} ({names}) FROM STDIN"


@cache
def _plan(table: Table, dialect: Dialect, with_id: bool) -> _Plan:
    return _Plan(table, dialect, with_id)


def driver_row(
    dialect: Dialect, table: Table, row: dict[str, Any], memo: dict | None = None
) -> dict[str, Any]:
    """Return row with every column: missing ones from the model's defaults (or NULL), and
    all values as the driver takes them. insert_rows(..., ready=True) inserts such rows.

    For work done before the write transaction: only what must be decided inside it (ids,
    say) is left to fill in, converted with driver_value. memo: a dict shared by the calls
    for one batch, so a value many rows share (its "now") is converted once.
    """
    return _values(_plan(table, dialect, "id" in row), row, {} if memo is None else memo)


def driver_value(dialect: Dialect, table: Table, name: str, value: Any) -> Any:
    """Return one value for table's column name as the driver takes it."""
    if value is None:
        return None
    convert = table.columns[name].type._cached_bind_processor(dialect)
    return value if convert is None else convert(value)


def _values(plan: _Plan, row: dict[str, Any], converted: dict[Any, Any]) -> dict[str, Any]:
    out = {**plan.defaults, **row}
    for name, make in plan.factories:
        if out[name] is _MISSING:
            out[name] = make()
    for name, convert in plan.converters:
        value = out[name]
        if value is None:
            continue
        # The same time in many rows (a batch's "now") and empty lists, converted once.
        if isinstance(value, datetime):
            key: Any = value
        elif isinstance(value, list) and not value:
            key = (convert, "[]")
        else:
            out[name] = convert(value)
            continue
        if key not in converted:
            converted[key] = convert(value)
        out[name] = converted[key]
    return out


def insert_rows(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *, ready: bool = False
) -> None:
    """Insert rows (dicts by column name) into table, in order, in one go.

    A row with an "id" gives its own primary key (see database.allocate_ids); every row of
    one call must then give one. A missing column takes its model default, or NULL.
    ready: the rows came from driver_row (every column, already converted). SQLite gets
    one executemany; PostgreSQL (psycopg) a COPY from COPY_FROM_ROWS rows, else one INSERT
    with a VALUES list per 30,000 values. A COPY checks the same constraints and fires the
    same foreign-key checks as the INSERT, and fails whole on the first violation.
    """
    if not rows:
        return
    plan = _plan(table, connection.dialect, "id" in rows[0])
    if not ready:
        converted: dict[Any, Any] = {}
        rows = [_values(plan, row, converted) for row in rows]
    values = [plan.row_values(row) for row in rows]
    if connection.dialect.paramstyle == "qmark":
        _run(connection, plan.sql, values, many=True)  # sqlite3 steps one statement per row
        return
    if len(values) >= COPY_FROM_ROWS and connection.dialect.driver == "psycopg":
        _copy(connection, plan.copy_sql, values)
        return
    # psycopg would send a statement per row: send one INSERT with many VALUES instead.
    per = max(1, _MAX_PARAMS // len(plan.names))
    for start in range(0, len(values), per):
        part = values[start : start + per]
        sql = plan.sql + "".join([", " + plan.marks] * (len(part) - 1))
        _run(connection, sql, [value for row in part for value in row])


def _run(connection: Connection, sql: str, params: Any, *, many: bool = False) -> list[tuple]:
    """Run one statement on the connection's driver cursor, in its transaction.

    Straight to the driver: SQLAlchemy builds result metadata anew for every textual
    statement (~0.1 ms a SELECT). Driver errors are raised as SQLAlchemy's own
    (IntegrityError, OperationalError, ...), as Connection.execute would raise them, so
    callers handle one set of exceptions. These statements do not pass through
    SQLAlchemy's statement events or its echo log.
    """
    with _driver_cursor(connection, sql, params) as cursor:
        if many:
            cursor.executemany(sql, params)
            return []
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


def _copy(connection: Connection, sql: str, rows: list[tuple]) -> None:
    """COPY rows into a table through psycopg, in the connection's transaction."""
    with _driver_cursor(connection, sql, rows) as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


@contextmanager
def _driver_cursor(connection: Connection, sql: str, params: Any) -> Iterator[Any]:
    """Yield a cursor of the connection's driver; raise its errors as SQLAlchemy's."""
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except connection.dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(
            sql, params, error, connection.dialect.loaded_dbapi.Error, dialect=connection.dialect
        ) from error
    finally:
        cursor.close()


def select_rows(connection: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Run a SELECT written with ? placeholders on any driver and return its rows as tuples.

    A parameter that is a list or tuple fills an IN list: "value IN ?" with ["a", "b"] runs
    as "value IN (?, ?)". For the few lookups on the sync hot path: a Core select with IN
    lists costs ~0.3 ms to build, find in the compile cache and expand, this ~0.03 ms. The
    text must hold no other ? or %; values come back as the driver gives them, unprocessed.
    """
    pieces = sql.split("?")
    if len(pieces) != len(params) + 1:
        raise ValueError(f"{len(pieces) - 1} placeholders for {len(params)} parameters")
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    out, flat = [pieces[0]], []
    for param, piece in zip(params, pieces[1:], strict=True):
        if isinstance(param, list | tuple):
            if not param:
                raise ValueError("an empty IN list")
            out.append("(" + ", ".join([mark] * len(param)) + ")")
            flat.extend(param)
        else:
            out.append(mark)
            flat.append(param)
        out.append(piece)
    return [tuple(row) for row in _run(connection, "".join(out), tuple(flat))]
