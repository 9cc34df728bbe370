"""index event.received_at: the sync service reads what changed since a station's last sync

Revision ID: 0006
Revises: 0005
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_event_received_at', 'event', ['received_at'])


def downgrade() -> None:
    op.drop_index('ix_event_received_at', table_name='event')
