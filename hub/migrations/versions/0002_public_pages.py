"""public pages: batch diary, certificates, map positions, product photo

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'diary_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('stage', sa.String(length=20), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('who', sa.String(length=200), nullable=False),
        sa.Column('place', sa.String(length=200), nullable=False),
        sa.Column('recorded_by', sa.String(length=10), nullable=False),
        sa.Column('station_id', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['batch.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_diary_batch_day', 'diary_entry', ['batch_id', 'day'])
    op.create_table(
        'certificate',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('number', sa.String(length=60), nullable=False),
        sa.Column('issuer', sa.String(length=200), nullable=False),
        sa.Column('stars', sa.Integer(), nullable=True),
        sa.Column('valid_from', sa.Date(), nullable=True),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('url', sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(['product_id'], ['product.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_certificate_product_id', 'certificate', ['product_id'])
    # batch mode so SQLite (no ALTER ... ADD with every option) and PostgreSQL take the same path
    with op.batch_alter_table('cooperative') as b:
        b.add_column(sa.Column('lat', sa.Float(), nullable=True))
        b.add_column(sa.Column('lon', sa.Float(), nullable=True))
    with op.batch_alter_table('product') as b:
        b.add_column(sa.Column('photo_url', sa.String(length=300), nullable=True))
    with op.batch_alter_table('station') as b:
        b.add_column(sa.Column('province', sa.String(length=100), nullable=False, server_default=''))
        b.add_column(sa.Column('lat', sa.Float(), nullable=True))
        b.add_column(sa.Column('lon', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('station') as b:
        b.drop_column('lon')
        b.drop_column('lat')
        b.drop_column('province')
    with op.batch_alter_table('product') as b:
        b.drop_column('photo_url')
    with op.batch_alter_table('cooperative') as b:
        b.drop_column('lon')
        b.drop_column('lat')
    op.drop_index('ix_certificate_product_id', table_name='certificate')
    op.drop_table('certificate')
    op.drop_index('ix_diary_batch_day', table_name='diary_entry')
    op.drop_table('diary_entry')
