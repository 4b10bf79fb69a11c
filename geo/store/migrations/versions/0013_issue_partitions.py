"""PostgreSQL: issues partitioned by month of reported_at (a province's ledger, 10M+ issues).

`issues` becomes a table partitioned BY RANGE (reported_at), one partition a calendar month
(issues_YYYY_MM) plus a DEFAULT partition (issues_default) for issues without a report time
and for any month whose partition does not exist yet, so an insert never fails for want of a
partition. A query filtered by report time (the dashboard's and ranking's period, a trend
window) reads only its months' partitions (partition pruning), and every partition is a
table of one month's issues that VACUUM/ANALYZE and index builds handle on its own.

New months: ccmap_issue_partitions(months date[]) creates the missing partitions of the given
months (under an advisory lock: concurrent writers create a month once) and moves the rows of
those months that were stored in the DEFAULT partition into them. The store calls it for the
months of the rows it is about to insert (an import spanning many months gets all of them
before its chunk is written), and ccmap_issue_partitions() without months (run by
store.analyze after bulk writes) splits whatever months the DEFAULT partition holds.

Keys: PostgreSQL requires a partitioned table's PRIMARY KEY and UNIQUE constraints to include
the partition key, and reported_at may be NULL (it cannot be in a key at all). The uniqueness
that imports rely on (one issue per external_id: a rerun of an import skips stored rows, and a
race between two imports ends in an IntegrityError, not a duplicate) and the uniqueness of ids
are kept by a small unpartitioned table issue_keys (id PRIMARY KEY, external_id UNIQUE),
filled by statement-level triggers on issues (set-based: COPY of a 50,000-row chunk adds its
keys in one INSERT ... SELECT from the transition table), so every way of writing issues is
checked, not only the store's. A UNIQUE (external_id, reported_at) index instead would let the
same external_id be stored twice under two report times. Lookups by id use the B-tree on id of
each partition (ids come from one sequence, issue_keys keeps them unique).

SQLite is unchanged.
"""

from alembic import op

revision, down_revision = "0013", "0012"
MONTHS_AHEAD = 3  # partitions made beyond the newest report (or today) at migration time
STATS = "status, deadline, closed_at, recurring_of"
# the indexes of issues (0001-0012) made on the partitioned table: PostgreSQL makes them on
# every partition, those made later too
INDEXES = [
    ("ix_issues_id", "btree (id)"),
    ("ix_issues_lonlat", "btree (lon, lat)"),
    ("ix_issues_status", "btree (status)"),
    ("ix_issues_category", "btree (category)"),
    # ordered scans of the issue list (newest first) need a B-tree; the BRIN below is what
    # range filters within a month use (a partition is written in report order, and closed_at
    # follows reported_at within days)
    ("ix_issues_reported_at", "btree (reported_at)"),
    ("ix_issues_times_brin", "brin (reported_at, closed_at)"),
    ("ix_issues_cell", "btree (cell_x, cell_y)"),
    ("ix_issues_zone_stats", f"btree (zone_id, {STATS})"),
    ("ix_issues_community_stats", f"btree (community, {STATS})"),
    ("ix_issues_unit_stats", f"btree (unit, {STATS})"),
    ("ix_issues_geom", "gist (geom)"),
]
PLAIN_INDEXES = [  # as 0012 left them
    ("ix_issues_lonlat", "btree (lon, lat)"),
    ("ix_issues_status", "btree (status)"),
    ("ix_issues_category", "btree (category)"),
    ("ix_issues_reported_at", "btree (reported_at)"),
    ("ix_issues_cell", "btree (cell_x, cell_y)"),
    ("ix_issues_zone_stats", f"btree (zone_id, {STATS})"),
    ("ix_issues_community_stats", f"btree (community, {STATS})"),
    ("ix_issues_unit_stats", f"btree (unit, {STATS})"),
    ("ix_issues_geom", "gist (geom)"),
]

# the columns written by INSERT ... SELECT (all but the generated geom), in table order
COLUMNS_SQL = """
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
    WHERE attrelid = 'issues'::regclass AND attnum > 0 AND NOT attisdropped
      AND attgenerated = ''"""

PARTITIONS_FN = f"""
CREATE FUNCTION ccmap_issue_partitions(months date[]) RETURNS integer AS $$
DECLARE
    nsp text;
    cols text;
    m date;
    part text;
    made integer := 0;
BEGIN
    SELECT n.nspname INTO nsp FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'issues'::regclass;
    FOR m IN SELECT DISTINCT date_trunc('month', x)::date FROM unnest(months) AS x
             WHERE x IS NOT NULL ORDER BY 1 LOOP
        part := 'issues_' || to_char(m, 'YYYY_MM');
        CONTINUE WHEN to_regclass(format('%I.%I', nsp, part)) IS NOT NULL;
        -- one writer at a time makes partitions; look again once it is ours
        PERFORM pg_advisory_xact_lock(hashtext(nsp || '.ccmap_issue_partitions'));
        CONTINUE WHEN to_regclass(format('%I.%I', nsp, part)) IS NOT NULL;
        IF cols IS NULL THEN
            {COLUMNS_SQL.strip()} INTO cols;
        END IF;
        -- the month's table is filled with its rows from the DEFAULT partition (statements on
        -- partitions fire no statement triggers of issues: issue_keys stays as it is), then
        -- attached, which builds its indexes and checks DEFAULT holds none of the month
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.issues INCLUDING DEFAULTS '
                       'INCLUDING GENERATED)', nsp, part, nsp);
        EXECUTE format('WITH moved AS (DELETE FROM %I.issues_default WHERE reported_at >= %L '
                       'AND reported_at < %L RETURNING %s) INSERT INTO %I.%I (%s) '
                       'SELECT %s FROM moved', nsp, m, m + interval '1 month', cols, nsp,
                       part, cols, cols);
        EXECUTE format('ALTER TABLE %I.issues ATTACH PARTITION %I.%I FOR VALUES FROM (%L) '
                       'TO (%L)', nsp, nsp, part, m::timestamp,
                       (m + interval '1 month')::timestamp);
        made := made + 1;
    END LOOP;
    RETURN made;
END $$ LANGUAGE plpgsql
"""

SPLIT_FN = """
CREATE FUNCTION ccmap_issue_partitions() RETURNS integer AS $$
    SELECT ccmap_issue_partitions(ARRAY(SELECT DISTINCT date_trunc('month', reported_at)::date
                                        FROM issues_default WHERE reported_at IS NOT NULL))
$$ LANGUAGE sql
"""

KEY_TRIGGERS = [
    """CREATE FUNCTION ccmap_issue_keys_insert() RETURNS trigger AS $$
       BEGIN INSERT INTO issue_keys (id, external_id) SELECT id, external_id FROM new_rows;
       RETURN NULL; END $$ LANGUAGE plpgsql""",
    """CREATE FUNCTION ccmap_issue_keys_delete() RETURNS trigger AS $$
       BEGIN DELETE FROM issue_keys k USING old_rows o WHERE k.id = o.id;
       RETURN NULL; END $$ LANGUAGE plpgsql""",
    """CREATE FUNCTION ccmap_issue_keys_update() RETURNS trigger AS $$
       BEGIN UPDATE issue_keys SET id = NEW.id, external_id = NEW.external_id
       WHERE id = OLD.id; RETURN NULL; END $$ LANGUAGE plpgsql""",
    """CREATE FUNCTION ccmap_issue_keys_truncate() RETURNS trigger AS $$
       BEGIN TRUNCATE issue_keys; RETURN NULL; END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER issue_keys_insert AFTER INSERT ON issues REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION ccmap_issue_keys_insert()""",
    """CREATE TRIGGER issue_keys_delete AFTER DELETE ON issues REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION ccmap_issue_keys_delete()""",
    # per row, but only for the rare UPDATE that sets id or external_id to something new (a
    # statement trigger would copy every updated row of a re-routing into transition tables)
    """CREATE TRIGGER issue_keys_update AFTER UPDATE OF id, external_id ON issues FOR EACH ROW
       WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.external_id IS DISTINCT FROM NEW.external_id)
       EXECUTE FUNCTION ccmap_issue_keys_update()""",
    """CREATE TRIGGER issue_keys_truncate AFTER TRUNCATE ON issues FOR EACH STATEMENT
       EXECUTE FUNCTION ccmap_issue_keys_truncate()""",
]


def upgrade() -> None:
    """Move issues into a partitioned table with issue_keys; nothing to do on SQLite."""
    if op.get_bind().dialect.name != "postgresql":
        return
    # the new table takes the columns, defaults (the id sequence) and generated geom of the old
    op.execute("ALTER SEQUENCE issues_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE issues RENAME TO issues_plain")
    op.execute("CREATE TABLE issues (LIKE issues_plain INCLUDING DEFAULTS INCLUDING GENERATED) "
               "PARTITION BY RANGE (reported_at)")
    op.execute("CREATE TABLE issues_default PARTITION OF issues DEFAULT")
    op.execute(PARTITIONS_FN)
    op.execute(SPLIT_FN)
    # every month of the stored issues up to MONTHS_AHEAD after the newest report or today
    op.execute(f"""
        SELECT ccmap_issue_partitions(ARRAY(SELECT generate_series(
            date_trunc('month', COALESCE(min(reported_at), now())),
            date_trunc('month', GREATEST(max(reported_at), now()))
                + interval '{MONTHS_AHEAD} month', interval '1 month')::date
            FROM issues_plain))""")
    cols = op.get_bind().exec_driver_sql(COLUMNS_SQL).scalar()
    op.execute(f"INSERT INTO issues ({cols}) SELECT {cols} FROM issues_plain")
    op.execute("CREATE TABLE issue_keys (id integer PRIMARY KEY, "
               "external_id varchar(128) UNIQUE)")
    op.execute("INSERT INTO issue_keys (id, external_id) SELECT id, external_id "
               "FROM issues_plain")
    op.execute("DROP TABLE issues_plain")
    op.execute("ALTER SEQUENCE issues_id_seq OWNED BY issues.id")
    for name, spec in INDEXES:
        op.execute(f"CREATE INDEX {name} ON issues USING {spec}")
    for sql in KEY_TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    """Back to one plain table with its primary key and unique external_id."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER SEQUENCE issues_id_seq OWNED BY NONE")
    op.execute("CREATE TABLE issues_plain (LIKE issues INCLUDING DEFAULTS INCLUDING GENERATED)")
    cols = op.get_bind().exec_driver_sql(COLUMNS_SQL).scalar()
    op.execute(f"INSERT INTO issues_plain ({cols}) SELECT {cols} FROM issues")
    op.execute("DROP TABLE issues CASCADE")  # its partitions and triggers
    op.execute("DROP TABLE issue_keys")
    for fn in ("ccmap_issue_partitions()", "ccmap_issue_partitions(date[])",
               "ccmap_issue_keys_insert()", "ccmap_issue_keys_delete()",
               "ccmap_issue_keys_update()", "ccmap_issue_keys_truncate()"):
        op.execute(f"DROP FUNCTION {fn}")
    op.execute("ALTER TABLE issues_plain RENAME TO issues")
    op.execute("ALTER SEQUENCE issues_id_seq OWNED BY issues.id")
    op.execute("ALTER TABLE issues ADD CONSTRAINT issues_pkey PRIMARY KEY (id)")
    op.execute("ALTER TABLE issues ADD CONSTRAINT issues_external_id_key UNIQUE (external_id)")
    for name, spec in PLAIN_INDEXES:
        op.execute(f"CREATE INDEX {name} ON issues USING {spec}")
