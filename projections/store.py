"""Read-model tables: versioned physical tables behind stable views, and batched row writes.

Each read-model table `rm_x` is a view over `rm_x__g<N>`; a rebuild fills generation N+1 and
swaps the views in one transaction. Rows touched by a batch are loaded once, changed in memory
and written back with one pipelined upsert per table, which is what makes rebuilds fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from psycopg import sql
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import psycopg

STATE_TABLE = "wardship_projections"
CHANNEL = "wardship_projections"

Key = tuple[Any, ...]
COPY_FROM = 200  # rows per table and batch above which COPY beats a pipelined upsert


@dataclass(frozen=True)
class Table:
    """One read-model table: columns with SQL types, its key, and extra index expressions."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    indexes: tuple[str, ...] = ()

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @cached_property
    def json_columns(self) -> tuple[int, ...]:
        """Where the jsonb columns are in `column_names`."""
        return tuple(n for n, (_, kind) in enumerate(self.columns) if kind == "jsonb")

    @cached_property
    def key_of(self) -> Callable[[dict[str, Any]], Key]:
        """A row's key as a tuple."""
        if len(self.key) == 1:
            column = self.key[0]
            return lambda row: (row[column],)
        return itemgetter(*self.key)  # a tuple for two columns or more

    def physical(self, generation: int) -> str:
        return f"{self.name}__g{generation}"


def create_state_table(conn: psycopg.Connection[Any]) -> None:
    """The tracking table: each projection's generation and last applied log position."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
        " name text PRIMARY KEY, generation int NOT NULL, position bigint NOT NULL,"
        " updated_at timestamptz NOT NULL DEFAULT now())"
    )


def create_tables(conn: psycopg.Connection[Any], tables: Iterable[Table], generation: int,
                  indexes: bool = True) -> None:
    """Create (afresh) the physical tables of one generation; a rebuild creates the extra
    indexes only once the tables are filled (`create_indexes`), which is cheaper."""
    for table in tables:
        name = sql.Identifier(table.physical(generation))
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(kind))
            for col, kind in table.columns
        )
        key = sql.SQL(", ").join(map(sql.Identifier, table.key))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(name))
        conn.execute(sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({}))").format(name, columns, key))
    if indexes:
        create_indexes(conn, tables, generation)


def create_indexes(conn: psycopg.Connection[Any], tables: Iterable[Table], generation: int
                   ) -> None:
    """Create the extra indexes (beside the key) of one generation's tables."""
    for table in tables:
        for number, expression in enumerate(table.indexes):
            conn.execute(
                sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    sql.Identifier(f"{table.physical(generation)}_i{number}"),
                    sql.Identifier(table.physical(generation)),
                    sql.SQL(expression),
                )
            )


def point_views(conn: psycopg.Connection[Any], tables: Iterable[Table], generation: int) -> None:
    """Point each stable view at the given generation (in the caller's transaction)."""
    for table in tables:
        view = sql.Identifier(table.name)
        conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(view))
        conn.execute(
            sql.SQL("CREATE VIEW {} AS SELECT * FROM {}").format(
                view, sql.Identifier(table.physical(generation))
            )
        )


def drop_tables(conn: psycopg.Connection[Any], tables: Iterable[Table], generation: int) -> None:
    for table in tables:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table.physical(generation)))
        )


@dataclass
class Rows:
    """The rows of one table that a batch reads and changes, written back on `flush`."""

    table: Table
    physical: str
    cached: dict[Key, dict[str, Any]] = field(default_factory=dict)
    dirty: set[Key] = field(default_factory=set)
    deleted: set[Key] = field(default_factory=set)
    covered: dict[str, set[Any]] = field(default_factory=dict)
    # Keys grouped by the first key column (e.g. a case's deadlines), for `matching`.
    groups: dict[Any, set[Key]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.key_of = self.table.key_of
        # Only a table keyed by several columns groups its keys: with one, a key is its group.
        self._grouped = len(self.table.key) > 1

    def _cache(self, key: Key, row: dict[str, Any]) -> None:
        self.cached[key] = row
        if self._grouped:
            self.groups.setdefault(key[0], set()).add(key)

    def prefetch(self, cur: psycopg.Cursor[Any], column: str, values: Iterable[Any]) -> None:
        """Load every row whose `column` is one of `values`; rows not found do not exist."""
        wanted = set(values) - self.covered.setdefault(column, set())
        if not wanted:
            return
        query = sql.SQL("SELECT * FROM {} WHERE {} = ANY(%s)").format(
            sql.Identifier(self.physical), sql.Identifier(column)
        )
        cur.execute(query, (list(wanted),))
        names = [d.name for d in cur.description or ()]
        for values_row in cur.fetchall():
            row = dict(zip(names, values_row, strict=True))
            key = self.key_of(row)
            if key not in self.cached:
                self._cache(key, row)
        self.covered[column] |= wanted

    def get(self, cur: psycopg.Cursor[Any], *key: Any) -> dict[str, Any] | None:
        """The row with this key as the batch sees it, or None."""
        found = self.cached.get(key)
        if found is not None:
            return found
        if key in self.deleted:
            return None
        for column, values in self.covered.items():
            if key[self.table.key.index(column)] in values:
                return None
        where = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(col)) for col in self.table.key
        )
        cur.execute(
            sql.SQL("SELECT * FROM {} WHERE {}").format(sql.Identifier(self.physical), where), key
        )
        fetched = cur.fetchone()
        if fetched is None:
            return None
        names = [d.name for d in cur.description or ()]
        row = dict(zip(names, fetched, strict=True))
        self._cache(key, row)
        return row

    def put(self, row: dict[str, Any]) -> dict[str, Any]:
        key = self.key_of(row)
        self._cache(key, row)
        self.dirty.add(key)
        if self.deleted:
            self.deleted.discard(key)
        return row

    def touch(self, row: dict[str, Any]) -> None:
        self.dirty.add(self.key_of(row))

    def delete(self, *key: Any) -> None:
        self.cached.pop(key, None)
        self.dirty.discard(key)
        self.deleted.add(key)

    def matching(self, value: Any) -> list[dict[str, Any]]:
        """Cached rows whose first key column equals `value` (prefetch by it first)."""
        if not self._grouped:
            found = self.cached.get((value,))
            return [] if found is None else [found]
        keys = self.groups.get(value, ())
        return [self.cached[key] for key in keys if key in self.cached]

    def flush(self, cur: psycopg.Cursor[Any]) -> None:
        name = sql.Identifier(self.physical)
        if self.deleted:
            where = sql.SQL(" AND ").join(
                sql.SQL("{} = %s").format(sql.Identifier(col)) for col in self.table.key
            )
            cur.executemany(sql.SQL("DELETE FROM {} WHERE {}").format(name, where),
                            list(self.deleted))
        if not self.dirty:
            return
        columns, cached = self.table.column_names, self.cached
        rows = [tuple(map(cached[key].get, columns)) for key in self.dirty]
        if self.table.json_columns:
            rows = [_adapt_json(row, self.table.json_columns) for row in rows]
        if len(rows) < COPY_FROM:
            cur.executemany(self._upsert(sql.SQL("VALUES ({})").format(
                sql.SQL(", ").join(sql.Placeholder() * len(columns)))), rows)
            return
        # Many rows (a rebuild): COPY into a session temp table, then one upsert from it.
        staging = sql.Identifier(f"staging_{self.physical}")
        cur.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS"
        ).format(staging, name))
        column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staging, column_list)) as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(self._upsert(sql.SQL("SELECT {} FROM {}").format(column_list, staging)))
        cur.execute(sql.SQL("DELETE FROM {}").format(staging))

    def _upsert(self, source: sql.Composable) -> sql.Composed:
        columns = self.table.column_names
        updates = [c for c in columns if c not in self.table.key]
        return sql.SQL(
            "INSERT INTO {} ({}) {} ON CONFLICT ({}) DO UPDATE SET {}"
        ).format(
            sql.Identifier(self.physical),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            source,
            sql.SQL(", ").join(map(sql.Identifier, self.table.key)),
            sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in updates
            ),
        )


def _adapt_json(row: tuple[Any, ...], json_columns: tuple[int, ...]) -> tuple[Any, ...]:
    """The row with the dicts and lists of its jsonb columns wrapped for psycopg."""
    values = list(row)
    for number in json_columns:
        if isinstance(values[number], dict | list):
            values[number] = Jsonb(values[number])
    return tuple(values)


@dataclass
class Batch:
    """What one projection changes in one transaction: rows per table, on one cursor."""

    cur: psycopg.Cursor[Any]
    generation: int
    tables: dict[str, Rows]

    @classmethod
    def start(cls, cur: psycopg.Cursor[Any], tables: Iterable[Table], generation: int) -> Batch:
        rows = {t.name: Rows(t, t.physical(generation)) for t in tables}
        return cls(cur, generation, rows)

    def rows(self, name: str) -> Rows:
        return self.tables[name]

    def flush(self) -> None:
        for rows in self.tables.values():
            rows.flush(self.cur)
