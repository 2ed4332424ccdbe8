"""The change log folded into the captures and tombstones (log_seq), sync_log dropped

Each capture and tombstone carries the position of its latest change (log_seq), taken from
the user's counter (users.log_position); sync_log, a row per logged capture, goes. The
positions are those sync_log gave, so cursors handed out before stay valid.

Revision ID: 8d2f6b3c1e07
Revises: 5e1f0a7c9d21
Create Date: 2026-12-02 01:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = '8d2f6b3c1e07'
down_revision = '5e1f0a7c9d21'
branch_labels = None
depends_on = None


def _latest(column: str, owner: str, capture: str) -> str:
    return (
        f"(SELECT max(s.{column}) FROM sync_log s"
        f" WHERE s.user_id = {owner} AND s.capture_uuid = {capture})"
    )


def upgrade():
    # Columns added in place (ALTER TABLE ... ADD COLUMN), never by copying the table: on
    # SQLite a copy drops the old table, and its ON DELETE CASCADE the rows that refer to it.
    op.add_column('users', sa.Column('log_position', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('encounters', sa.Column('log_seq', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('tombstones', sa.Column('log_seq', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('tombstones', sa.Column('logged_at', webapp.db_types.UTCDateTime(timezone=True), nullable=True))

    # The positions sync_log gave (ids never handed out twice: AUTOINCREMENT, a sequence).
    op.execute(
        "UPDATE encounters SET log_seq = COALESCE("
        + _latest("id", "encounters.user_id", "encounters.uuid") + ", 0)"
    )
    op.execute(
        "UPDATE tombstones SET log_seq = COALESCE("
        + _latest("id", "tombstones.user_id", "tombstones.capture_uuid") + ", 0), "
        "logged_at = COALESCE("
        + _latest("changed_at", "tombstones.user_id", "tombstones.capture_uuid")
        + ", deleted_at)"
    )
    op.execute(
        "UPDATE users SET log_position = COALESCE("
        "(SELECT max(s.id) FROM sync_log s WHERE s.user_id = users.id), 0)"
    )

    # NOT NULL once filled; SQLite copies this table to change that, and no other table
    # refers to tombstones.
    with op.batch_alter_table('tombstones', schema=None) as batch_op:
        batch_op.alter_column('logged_at', existing_type=webapp.db_types.UTCDateTime(timezone=True), nullable=False)
    op.create_index('ix_tombstones_user_log', 'tombstones', ['user_id', 'log_seq'], unique=False)
    op.create_index('ix_encounters_user_log', 'encounters', ['user_id', 'log_seq'], unique=False)

    with op.batch_alter_table('sync_log', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_log_user_id_id')
        batch_op.drop_index(batch_op.f('ix_sync_log_capture_uuid'))
    op.drop_table('sync_log')


def downgrade():
    op.create_table('sync_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('capture_uuid', sa.String(length=36), nullable=False),
    sa.Column('changed_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('sync_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_log_capture_uuid'), ['capture_uuid'], unique=False)
        batch_op.create_index('ix_sync_log_user_id_id', ['user_id', 'id'], unique=False)
    # sync_log's ids are global and the positions were per user, so the rows are numbered
    # again, in log order, after every position handed out: a device's cursor lists its
    # changes once more rather than skipping one.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('sync_log', 'id'),"
            " GREATEST((SELECT max(log_position) FROM users), 1))"
        )
    else:
        op.execute(
            "INSERT INTO sqlite_sequence (name, seq)"
            " SELECT 'sync_log', COALESCE(max(log_position), 0) FROM users"
        )
    op.execute(
        "INSERT INTO sync_log (user_id, capture_uuid, changed_at)"
        " SELECT user_id, capture, at FROM ("
        " SELECT log_seq, user_id, uuid AS capture, updated_at AS at FROM encounters"
        " WHERE log_seq > 0"
        " UNION ALL"
        " SELECT log_seq, user_id, capture_uuid, logged_at FROM tombstones WHERE log_seq > 0"
        ") logged ORDER BY log_seq, user_id"
    )

    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+), never a copy of the table: a
    # copy of users would drop the old table, and its ON DELETE CASCADE every user's rows.
    op.drop_index('ix_encounters_user_log', table_name='encounters')
    op.drop_column('encounters', 'log_seq')
    op.drop_index('ix_tombstones_user_log', table_name='tombstones')
    op.drop_column('tombstones', 'logged_at')
    op.drop_column('tombstones', 'log_seq')
    op.drop_column('users', 'log_position')
