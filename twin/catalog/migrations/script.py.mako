"""Schema version ${int(up_revision)}: ${message}"""

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
from twin.catalog.migrations.helpers import no_downgrade, set_schema_version

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
    set_schema_version(int(revision))


downgrade = no_downgrade
