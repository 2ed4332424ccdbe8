"""Follow-ups still to plan for the captures of a sync batch (pending_plans)

Revision ID: 5e1f0a7c9d21
Revises: 0c3680dca5e3
Create Date: 2026-12-01 12:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = '5e1f0a7c9d21'
down_revision = '0c3680dca5e3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pending_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('encounter_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pending_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_plans_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('pending_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_plans_user_id'))

    op.drop_table('pending_plans')
