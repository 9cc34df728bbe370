"""batch_outlet: the stations that checked or sold stamps of each batch ("where to buy"),
kept by the ingestor, filled here from the events already applied

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'batch_outlet',
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['station_id'], ['station.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('batch_id', 'station_id'),
    )
    # Same rule as hub.outlets.record: applied checks and sales by a registered station (not the web page).
    op.execute("INSERT INTO batch_outlet (batch_id, station_id) "
               "SELECT DISTINCT s.batch_id, e.station_id FROM event e JOIN stamp s ON s.serial = e.serial "
               "WHERE e.type IN ('checked', 'sold') AND e.applied AND s.batch_id IS NOT NULL "
               "AND e.station_id <> 'web' AND e.station_id IN (SELECT id FROM station)")


def downgrade() -> None:
    op.drop_table('batch_outlet')
