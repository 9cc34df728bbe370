"""enrolment codes in the database, so every hub web node can redeem a code another made

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'enrolment_code',
        sa.Column('code_hash', sa.String(64), nullable=False),
        sa.Column('station_id', sa.String(32), nullable=False),
        sa.Column('mqtt_host', sa.String(253), nullable=False),
        sa.Column('mqtt_port', sa.Integer(), nullable=False),
        sa.Column('ca_pem', sa.Text(), nullable=True),
        sa.Column('expires_at', TS, nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('created_by', sa.String(80), nullable=False),
        sa.ForeignKeyConstraint(['station_id'], ['station.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('code_hash'),
        sa.UniqueConstraint('station_id'),
    )


def downgrade() -> None:
    op.drop_table('enrolment_code')
