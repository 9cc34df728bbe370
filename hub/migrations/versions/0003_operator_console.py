"""operator console: users, API tokens, audit log, commands, config pushes, stamp blocks,
diary revisions, alert acknowledgement

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'app_user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(80), nullable=False),
        sa.Column('password_hash', sa.String(300), nullable=False),
        sa.Column('role', sa.String(20), nullable=False),
        sa.Column('cooperative_id', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['cooperative_id'], ['cooperative.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('username'),
    )
    op.create_table(
        'api_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(64), nullable=False),
        sa.Column('name', sa.String(80), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('last_used_at', TS, nullable=True),
        sa.Column('revoked_at', TS, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_api_token_user_id', 'api_token', ['user_id'])
    op.create_table(
        'audit_log',
        sa.Column('id', BIGID, nullable=False),
        sa.Column('at', TS, nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('username', sa.String(80), nullable=False),
        sa.Column('action', sa.String(40), nullable=False),
        sa.Column('target_type', sa.String(40), nullable=False),
        sa.Column('target_id', sa.String(64), nullable=False),
        sa.Column('cooperative_id', sa.Integer(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_target', 'audit_log', ['target_type', 'target_id'])
    op.create_table(
        'station_command',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('station_id', sa.String(32), nullable=False),
        sa.Column('name', sa.String(20), nullable=False),
        sa.Column('args', sa.JSON(), nullable=True),
        sa.Column('sent_at', TS, nullable=False),
        sa.Column('sent_by', sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_command_station_at', 'station_command', ['station_id', 'sent_at'])
    op.create_table(
        'station_config_push',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.String(32), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('config', sa.JSON(), nullable=False),
        sa.Column('pushed_at', TS, nullable=False),
        sa.Column('pushed_by', sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station_id', 'version'),
    )
    op.create_table(
        'stamp_block',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cooperative_id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=True),
        sa.Column('first_serial', sa.String(16), nullable=False),
        sa.Column('last_serial', sa.String(16), nullable=False),
        sa.Column('first_number', sa.BigInteger(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.String(32), nullable=True),
        sa.Column('issued_at', TS, nullable=False),
        sa.Column('issued_by', sa.String(80), nullable=False),
        sa.ForeignKeyConstraint(['cooperative_id'], ['cooperative.id']),
        sa.ForeignKeyConstraint(['product_id'], ['product.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'diary_revision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('replaced_at', TS, nullable=False),
        sa.Column('replaced_by', sa.String(80), nullable=False),
        sa.Column('change', sa.String(10), nullable=False),
        sa.Column('old', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_diary_revision_entry_id', 'diary_revision', ['entry_id'])
    with op.batch_alter_table('alert') as b:
        b.add_column(sa.Column('acknowledged_at', TS, nullable=True))
        b.add_column(sa.Column('acknowledged_by', sa.String(80), nullable=True))
        b.add_column(sa.Column('resolved_by', sa.String(80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alert') as b:
        b.drop_column('resolved_by')
        b.drop_column('acknowledged_by')
        b.drop_column('acknowledged_at')
    op.drop_index('ix_diary_revision_entry_id', 'diary_revision')
    op.drop_table('diary_revision')
    op.drop_table('stamp_block')
    op.drop_table('station_config_push')
    op.drop_index('ix_command_station_at', 'station_command')
    op.drop_table('station_command')
    op.drop_index('ix_audit_target', 'audit_log')
    op.drop_table('audit_log')
    op.drop_index('ix_api_token_user_id', 'api_token')
    op.drop_table('api_token')
    op.drop_table('app_user')
