"""A random identity of the database: layer_versions ("database", a random number).

Tile ETags, and the keys of the memory and disk tile caches, were made from layer versions
alone. A database rebuilt from scratch (a file deleted and imported again, a schema dropped
and made again) or replaced by a backup of another database at the same path or URL counts
its versions again from the same numbers, and the disk cache (kept beside the database, or
under var/tiles for its URL) and the browsers' ETags would then be given the old database's
tiles. Every tile's ETag holds this number too, read in the query of the layers' versions.

The number is drawn when the database is made (or migrated to this revision), from 1 to
2**31 - 2**24: a positive INTEGER on PostgreSQL, with room for the +1 of every clearing of the
store (clear() bumps every layer_versions row).
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0020", "0019"
DATABASE = "database"  # geo.maps.tilecache.DATABASE_ID


def upgrade() -> None:
    """Insert ("database", a random positive number) into layer_versions."""
    number = 1 + secrets.randbelow(2**31 - 2**24)
    op.execute(sa.text("INSERT INTO layer_versions (layer, version) VALUES (:layer, :version)")
               .bindparams(layer=DATABASE, version=number))


def downgrade() -> None:
    """Delete the database's identity."""
    op.execute(sa.text("DELETE FROM layer_versions WHERE layer = :layer")
               .bindparams(layer=DATABASE))
