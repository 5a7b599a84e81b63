"""ledger holds: refunds waiting for their capture, and money events refused by rule

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "ledger_holds",
        sa.Column("event_id", sa.CHAR(length=36), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("refund_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("payload", mysql.LONGBLOB(), nullable=False),
        sa.Column("occurred_at", _TS, nullable=False),
        sa.Column("held_at", _TS, nullable=False),
        sa.Column("decided_by", sa.CHAR(length=36), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_ledger_holds")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_ledger_holds_refund_id")),
    )
    op.create_index(op.f("ix_ledger_holds_payment_id"), "ledger_holds", ["payment_id"])
    op.create_index(op.f("ix_ledger_holds_decided_by"), "ledger_holds", ["decided_by"])


def downgrade() -> None:
    op.drop_table("ledger_holds")
