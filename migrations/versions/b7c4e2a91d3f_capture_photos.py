"""Badge photos kept on captures (capture_photos)

Revision ID: b7c4e2a91d3f
Revises: 2393bf939c0e
Create Date: 2026-11-22 02:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

import webapp.db_types


# revision identifiers, used by Alembic.
revision = 'b7c4e2a91d3f'
down_revision = '2393bf939c0e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('capture_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('encounter_id', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', webapp.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['encounter_id'], ['encounters.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('encounter_id', 'sha256')
    )
    with op.batch_alter_table('capture_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capture_photos_encounter_id'), ['encounter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_capture_photos_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('capture_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capture_photos_user_id'))
        batch_op.drop_index(batch_op.f('ix_capture_photos_encounter_id'))

    op.drop_table('capture_photos')
