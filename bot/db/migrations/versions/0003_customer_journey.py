"""customer journey: sign-up progress, birthday, profile, tiers, referrals, privacy

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "forgotten_identities",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signup_step", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("birthday", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("profile", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("marketing_opt_in", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("tier", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("tier_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("below_tier_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("referred_by", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("referral_rewarded_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_customers_referred_by", "customers", ["referred_by"], ["id"]
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_customers_referred_by", type_="foreignkey")
        batch_op.drop_column("erased_at")
        batch_op.drop_column("referral_rewarded_at")
        batch_op.drop_column("referred_by")
        batch_op.drop_column("below_tier_since")
        batch_op.drop_column("tier_since")
        batch_op.drop_column("tier")
        batch_op.drop_column("marketing_opt_in")
        batch_op.drop_column("profile")
        batch_op.drop_column("birthday")
        batch_op.drop_column("signup_step")

    op.drop_table("forgotten_identities")
