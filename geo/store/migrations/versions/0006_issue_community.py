"""The community (社区) of each issue, set when it is routed; back-filled here."""

import shapely
import sqlalchemy as sa
from alembic import op

revision, down_revision = "0006", "0005"


def upgrade() -> None:
    """Add issues.community and fill it from the community polygons already stored."""
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("community", sa.Text))
    op.create_index("ix_issues_community", "issues", ["community"])
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT name, wkb FROM features WHERE kind = 'community'"))
    communities = [(name, shapely.from_wkb(bytes(wkb))) for name, wkb in rows]
    if not communities:
        return
    tree = shapely.STRtree([g for _, g in communities])
    issues = conn.execute(sa.text("SELECT id, lon, lat FROM issues")).fetchall()
    for start in range(0, len(issues), 5000):
        chunk = issues[start:start + 5000]
        pts = shapely.points([r[1] for r in chunk], [r[2] for r in chunk])
        p_idx, c_idx = tree.query(pts, predicate="within")
        names = {int(p): communities[int(c)][0] for p, c in zip(p_idx, c_idx, strict=True)}
        updates = [{"id": chunk[p][0], "c": name} for p, name in names.items()]
        if updates:
            conn.execute(sa.text("UPDATE issues SET community = :c WHERE id = :id"), updates)
