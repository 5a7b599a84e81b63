"""risk decisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "risk_decisions",
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.CHAR(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("card_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("rules_score", sa.Double(), nullable=False),
        sa.Column("reasons", sa.String(length=512), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("authorized_at", _TS, nullable=False),
        sa.Column("decided_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_risk_decisions")),
        sa.UniqueConstraint("event_id", name=op.f("uq_risk_decisions_event_id")),
    )
    for column in ("customer_id", "merchant_id", "decision", "authorized_at"):
        op.create_index(op.f(f"ix_risk_decisions_{column}"), "risk_decisions", [column])


def downgrade() -> None:
    op.drop_table("risk_decisions")
