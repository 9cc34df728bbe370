"""console settings (SMTP for alert mail) and the software version each station reports

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'hub_setting',
        sa.Column('name', sa.String(40), nullable=False),
        sa.Column('value', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    with op.batch_alter_table('station') as b:
        b.add_column(sa.Column('software', sa.String(60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('station') as b:
        b.drop_column('software')
    op.drop_table('hub_setting')
