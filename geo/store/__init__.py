"""Storage behind one interface: `open_store(url)` returns a Store for SQLite or PostGIS."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from geo.model.kinds import Kind
from geo.model.records import Feature, Issue, IssueRoute

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

    from geo.model.lifecycle import StatusChange
    from geo.model.users import Unit, User
    from geo.tiling.tiles import Tile

BBox = tuple[float, float, float, float]
MAX_ID = 2**63 - 1  # the largest integer the databases store (BIGINT)
ISSUE_SORTS = ("id", "-id", "reported_at", "-reported_at", "deadline", "-deadline", "status",
               "category")


@dataclass(frozen=True)
class Attempts:
    """Attempts counted for one name (reserve_attempt): refused while `locked_until` > now."""

    count: int
    locked_until: datetime | None

    def refused(self, now: datetime) -> bool:
        """True when the lock is in force: the password must not be checked."""
        return self.locked_until is not None and self.locked_until > now


@dataclass
class IssueQuery:
    """Filters, sorting and paging of an issue list."""

    categories: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    communities: list[str] = field(default_factory=list)
    zone_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    bbox: BBox | None = None
    overdue: bool | None = None
    recurring: bool | None = None
    uncovered: bool | None = None  # True: in no zone (zone_id empty); False: in one
    # the issue list's own filters (not the tiles'): open, clock running, deadline between now
    # and due_before (the cut-off "due within N working hours" computed with the calendar);
    # flags the issue carries, every one (escalated 督办 …)
    due_before: datetime | None = None
    flags: list[str] = field(default_factory=list)
    scope_unit: str | None = None
    sort: str = "-reported_at"
    offset: int = 0
    limit: int | None = 50  # None: every match (exports, analyses), never a route's page
    now: datetime = field(default_factory=datetime.now)


class Transactions(Protocol):
    """Transactions, locks and upkeep of the database."""

    url: str

    def transaction(self) -> AbstractContextManager[None]:
        """`with store.transaction():` makes the store calls inside one transaction, written
        all or none (an error inside undoes them all); a nested one joins the outer one."""
        ...

    def lock(self, name: str) -> None:
        """Inside transaction(): wait for the lock `name` and hold it until the transaction
        ends, so the transactions that take it run one after another."""
        ...

    def analyze(self) -> None:
        """Refresh the query planner's statistics after a bulk import."""
        ...

    def warm_up(self, connections: int) -> None:
        """Open `connections` pooled connections at once and have each plan a query over the
        issues (PostgreSQL: a new backend loads the month partitions' catalog entries on its
        first one, 30 ms of a first request); nothing on SQLite."""
        ...

    def clear(self, actor: str = "system") -> None:
        """Delete every feature, issue, user and unit, and the notifications, webhooks and
        deliveries (used to rebuild the demo)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class FeatureStore(Protocol):
    """Layers: features of every kind, their versions, names and extents."""

    def add_features(self, features: Sequence[Feature], actor: str = "system") -> list[int]:
        """Insert features atomically; return their new ids in order."""
        ...

    def features(self, kind: Kind, bbox: BBox | None = None, limit: int | None = None,
                 where: dict[str, Any] | None = None,
                 scope_unit: str | None = None, offset: int = 0,
                 keys: Sequence[str] | None = None) -> list[Feature]:
        """Features of one kind by id, optionally inside bbox and matching property values
        (offset/limit page them; limit None: all); with keys, only those properties."""
        ...

    def feature_batches(self, kind: Kind, bbox: BBox | None = None, size: int = 5000
                        ) -> Iterator[list[Feature]]:
        """The features of a kind (inside bbox) by id, `size` at a time (constant memory)."""
        ...

    def count_features(self, kind: Kind, bbox: BBox | None = None,
                       where: dict[str, Any] | None = None,
                       scope_unit: str | None = None) -> int:
        """How many features `features` would return without a limit (counted in SQL)."""
        ...

    def feature_names(self, kind: Kind, prefix: str = "", limit: int = 20,
                      scope_unit: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Features of a kind whose name starts with prefix, by name: at most limit of them
        as {id, name, unit}, and how many match in all."""
        ...

    def property_values(self, kind: Kind, key: str,
                        scope_unit: str | None = None) -> list[str]:
        """The distinct non-empty values of one property over the features of a kind, sorted."""
        ...

    def feature(self, feature_id: int, scope_unit: str | None = None) -> Feature:
        """One feature by id; raises NotFound (also when outside the scope)."""
        ...

    def save_feature(self, feature: Feature, actor: str, action: str,
                     expected_version: int | None = None) -> Feature:
        """Create or replace one feature as a new version (Conflict if the version is stale)."""
        ...

    def delete_feature(self, feature_id: int, actor: str) -> None:
        """Delete a feature, keeping its versions."""
        ...

    def feature_versions(self, feature_id: int) -> list[dict[str, Any]]:
        """Every saved version of a feature, oldest first."""
        ...

    def layer_counts(self) -> dict[str, int]:
        """Number of features per kind (kinds with none are omitted)."""
        ...

    def extent(self, kind: Kind | None = None, scope_unit: str | None = None) -> BBox | None:
        """Bounding box of every stored feature (of one kind, in a unit user's scope), or None
        when there are none."""
        ...

    def feature_labels(self, kind: Kind, scope_unit: str | None = None) -> list[dict[str, Any]]:
        """{id, name, unit} of every feature of a kind (in the scope), by id, no geometry."""
        ...

    def feature_geometries(self, kind: Kind) -> tuple[list[int], Any]:
        """Ids and WGS84 geometries (a numpy array) of every feature of a kind, by id."""
        ...

    def layer_stamp(self, kinds: Sequence[str]) -> tuple[Any, ...]:
        """Changes whenever a feature of these layers is written (cache key of derived
        figures)."""
        ...


class IssueStore(Protocol):
    """The issue ledger: issue records, their status changes, history and routing."""

    def add_issues(self, issues: Sequence[Issue], actor: str = "system") -> list[int]:
        """Insert issues atomically; return their new ids in order."""
        ...

    def issues(self, bbox: BBox | None = None, limit: int | None = None,
               status: str | None = None, category: str | None = None,
               scope_unit: str | None = None) -> list[Issue]:
        """Issues, optionally inside bbox and filtered by status and category."""
        ...

    def issue_batches(self, bbox: BBox | None = None, size: int = 5000
                     ) -> Iterator[list[IssueRoute]]:
        """Location and routing of the issues (inside bbox, by its index) in lists of at most
        `size`, read a batch at a time (never the whole table in memory)."""
        ...

    def issue_record_batches(self, query: IssueQuery, size: int = 5000
                             ) -> Iterator[list[Issue]]:
        """The issues matching query by id, `size` at a time (constant memory)."""
        ...

    def issue_count(self, at_most: int | None = None) -> int:
        """Number of stored issues (with at_most: counted up to it, the rest never read)."""
        ...

    def issue(self, issue_id: int, scope_unit: str | None = None) -> Issue:
        """One issue; NotFound also outside a unit user's scope."""
        ...

    def query_issues(self, query: IssueQuery) -> tuple[list[Issue], int]:
        """A page of issues and the total count that match."""
        ...

    def apply_transition(self, issue_id: int, change: StatusChange, expected_version: int,
                         extra: dict[str, Any] | None = None) -> Issue:
        """Apply a checked status change; Conflict if the version is stale."""
        ...

    def update_issue(self, issue_id: int, changes: dict[str, Any], expected_version: int,
                     actor: str) -> Issue:
        """Edit fields of an issue; Conflict if the version is stale."""
        ...

    def issue_history(self, issue_id: int | None) -> list[dict[str, Any]]:
        """Status history of an issue (of all issues with None), oldest first."""
        ...

    def histories(self, issue_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """The history rows of these issues, oldest first, by issue id."""
        ...

    def add_history_note(self, issue_id: int, status: str, actor: str, note: str) -> None:
        """Record an event in an issue's history without changing its status."""
        ...

    def update_routes(self, issues: Sequence[Issue | IssueRoute], actor: str) -> int:
        """Store the routing (zone, unit, flags, cadre, community) of many issues at once."""
        ...

    def existing_external_ids(self, external_ids: Sequence[str]) -> set[str]:
        """The external ids among these that are already stored."""
        ...

    def issue_id_by_client_key(self, client_key: str) -> int | None:
        """The id of the issue stored with this client key (geo.model.clients), or None."""
        ...

    def max_issue_id(self) -> int:
        """The highest issue id stored (0: none)."""
        ...

    def prepare_issue_months(self, times: pd.Series | Sequence[datetime | None]) -> None:
        """Make room for issues reported at these times before writing them (PostGIS: the
        month partitions; outside a transaction, so the write itself creates none)."""
        ...

    def closed_issue_columns(self, bbox: BBox, closed_since: datetime, closed_until: datetime,
                             max_id: int) -> dict[str, NDArray[Any]]:
        """Closed issues (id ≤ max_id) inside bbox closed in the period, as columns."""
        ...

    def write_issue_columns(self, rows: pd.DataFrame, actor: str) -> list[int]:
        """Insert issues given as columns, with history and audit rows; their ids."""
        ...


class IssueAggregates(Protocol):
    """Counts, statistics and cells of issues, aggregated in SQL (geo/store/aggregates.py)."""

    def issue_cells(self, query: IssueQuery, overdue_weight: float = 1.0, factor: int = 1
                    ) -> list[tuple[int, int, float]]:
        """Weighted issue counts per base grid cell (cell_x, cell_y, count); with a factor (a
        power of two), per block of factor × factor cells (cell_x // factor, ...)."""
        ...

    def issue_cell_counts(self, query: IssueQuery, overdue_weight: float = 1.0, factor: int = 1
                          ) -> list[tuple[int, int, int, float]]:
        """Like issue_cells, in one query: (cell_x, cell_y, issues, weighted count) per cell
        or block of factor × factor cells."""
        ...

    def open_issue_counts(self, query: IssueQuery, by: str) -> dict[Any, int]:
        """Open issues (neither closed nor rejected) matching query per value of a column."""
        ...

    def issue_counts(self, query: IssueQuery, by: str, open_only: bool = False
                     ) -> dict[Any, int]:
        """Issues matching query (open_only: only the open ones) per value of a column."""
        ...

    def issue_stats(self, query: IssueQuery, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Per group of the `by` columns, counts of the matching issues: issues, counted,
        handled, closed, on_time, recurring, overdue (at query.now) and open."""
        ...

    def issue_flags(self, query: IssueQuery, unrouted: str | None = None
                    ) -> dict[str, Any]:
        """Per matching issue, as numpy arrays: lon, lat and issue_stats' 0/1 flags
        (unrouted="community": only the issues with no community stored)."""
        ...

    def issue_positions(self, query: IssueQuery) -> tuple[Any, Any]:
        """The lon and lat arrays of the issues matching query, in no particular order."""
        ...

    def issue_trend(self, query: IssueQuery, edges: Sequence[datetime]
                    ) -> list[tuple[int, int]]:
        """(reported, closed) counts of the matching issues in each window between edges."""
        ...

    def issue_list(self, query: IssueQuery, order: Sequence[str], limit: int) -> list[Issue]:
        """At most limit matching issues ordered by id, reported_at or unit ("" first)."""
        ...


class IndicatorAggregates(Protocol):
    """The counts behind the evaluation indicators (考评指标) per group, in SQL
    (geo/store/indicators.py; definitions in geo/analytics/indicators.py)."""

    def indicator_counts(self, by: str | None, start: datetime, end: datetime,
                         scope_unit: str | None = None, exclude_deferred: bool = True
                         ) -> dict[Any, dict[str, int]]:
        """Per value of `by` (unit, zone_id, community, category; None: all in one group):
        registered, due, closed, closed_on_time, overdue, reworked, extended, deferred of the
        period [start, end)."""
        ...

    def extension_counts(self, by: str | None, start: datetime, end: datetime,
                         scope_unit: str | None = None) -> dict[Any, dict[str, int]]:
        """Per applying unit (or zone_id, community, category of the issue): extension
        applications requested in [start, end) and how many are approved, rejected, pending."""
        ...


class TileStore(Protocol):
    """Vector tiles and the layer versions behind their ETags (rules in geo/tiling/tiles.py)."""

    def layer_version(self, layer: str) -> int:
        """A layer's version (a kind or "issues"), bumped in the transaction of every write
        that changes the layer; 0 for an unknown layer."""
        ...

    def layer_versions(self, layers: Sequence[str], tile: Tile | None = None
                       ) -> dict[str, int]:
        """The versions of several layers (as layer_version), read in one query; with a tile,
        the issues layer's is that of the last write that changed issues the tile reads."""
        ...

    def changed_blocks(self, since: Mapping[str, int], most: int
                       ) -> tuple[dict[str, int], dict[str, list[tuple[int, int]] | None]]:
        """The versions of the layers of `since` now, and for each layer written since its
        version there, the blocks (bx, by of geo.tiling.tiles) those writes changed, or None
        when they may have changed any tile of the layer (or more than `most` blocks)."""
        ...

    def feature_tile(self, kind: Kind, tile: Tile, where: dict[str, Any] | None = None,
                     scope_unit: str | None = None,
                     fields: Sequence[str] | None = None) -> bytes:
        """The Mapbox Vector Tile of one layer kind in one tile (b"" when empty), its features
        carrying their ids and the properties `fields` (of FEATURE_PROPS; None: all)."""
        ...

    def issue_tile(self, query: IssueQuery, tile: Tile,
                   fields: Sequence[str] | None = None) -> bytes:
        """The Mapbox Vector Tile of the issues matching query: points (their ids, carrying
        the properties `fields` of ISSUE_PROPS; None: all) or grid cells."""
        ...

    def issue_tile_valid_until(self, query: IssueQuery, tile: Tile) -> datetime | None:
        """Until when issue_tile(query, tile) holds without a write: the earliest deadline at or
        after query.now of the open issues it reads (one becomes overdue then); None if none,
        or if the tile does not depend on the clock (cells without an overdue filter)."""
        ...


class EvidenceStore(Protocol):
    """Photos and re-inspections of issues."""

    def add_photo(self, issue_id: int, stage: str, filename: str, content_type: str,
                  data: bytes, actor: str, client_key: str | None = None) -> int:
        """Store a before/after photo (with the client key of an offline client's photo)."""
        ...

    def photo_by_client_key(self, client_key: str) -> dict[str, Any] | None:
        """The metadata of the photo stored with this client key, or None."""
        ...

    def photos(self, issue_id: int) -> list[dict[str, Any]]:
        """Photo metadata of an issue."""
        ...

    def photo(self, photo_id: int) -> tuple[dict[str, Any], bytes]:
        """A photo's metadata and bytes."""
        ...

    def schedule_reinspection(self, issue_id: int, due: datetime, actor: str) -> int:
        """Schedule a 回头看."""
        ...

    def record_reinspection(self, reinspection_id: int, result: str, note: str,
                            actor: str) -> dict[str, Any]:
        """Record a re-inspection's result."""
        ...

    def reinspections(self, issue_id: int | None = None) -> list[dict[str, Any]]:
        """Re-inspections of one issue or all."""
        ...


class PlanStore(Protocol):
    """The assessment planner's rounds and inspections."""

    def add_round(self, name: str, plan: dict[str, Any], actor: str) -> int:
        """Store a planned inspection round; return its id."""
        ...

    def round(self, round_id: int) -> dict[str, Any]:
        """One round with its plan (NotFound if missing)."""
        ...

    def rounds(self) -> list[dict[str, Any]]:
        """Every round, newest first."""
        ...

    def add_inspection(self, record: dict[str, Any], issues: Sequence[Issue],
                       actor: str) -> tuple[int, list[int]]:
        """Store an inspection and the issues of its failed items in one transaction."""
        ...

    def inspection_by_client_key(self, client_key: str) -> dict[str, Any] | None:
        """The inspection stored with this client key (geo.model.clients), or None."""
        ...

    def inspections(self, feature_id: int | None = None, round_id: int | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Inspection records, oldest first, filtered by point, round and time (offset/limit
        page them; limit None: all)."""
        ...

    def inspection_count(self, feature_id: int | None = None, round_id: int | None = None,
                         since: datetime | None = None, until: datetime | None = None) -> int:
        """How many inspection records match the filters of inspections."""
        ...


class AccountStore(Protocol):
    """Units, users, login attempts and tokens."""

    def add_unit(self, unit: Unit, actor: str = "system") -> int:
        """Create a unit; Conflict if the name exists."""
        ...

    def units(self) -> list[Unit]:
        """All units."""
        ...

    def add_units(self, units: Sequence[Unit], actor: str = "system") -> int:
        """Create many units in one transaction; Conflict (none created) if a name exists."""
        ...

    def zone_units_unregistered(self) -> list[tuple[str, int]]:
        """(unit, zones) of the units the zones name that are not registered."""
        ...

    def add_user(self, user: User, actor: str = "system") -> int:
        """Create a user whose password_hash is set; Conflict if the username exists."""
        ...

    def user(self, username: str) -> User | None:
        """The user with this username, or None."""
        ...

    def users(self) -> list[User]:
        """All users."""
        ...

    def update_user(self, username: str, changes: dict[str, Any], actor: str) -> User:
        """Change a user's role, unit, display name, active flag or password hash; Conflict
        if it would leave no active admin (checked in the same transaction)."""
        ...

    def reserve_attempt(self, purpose: str, username: str, now: datetime, limit: int,
                        window: timedelta, duration: timedelta) -> Attempts:
        """Count one attempt atomically before checking a password (see Attempts).

        In one statement: a lock in force leaves the count as it is; a count older than
        `window` (or an expired lock) starts again at 1; otherwise the count grows by one, and
        a count beyond `limit` locks for `duration`.
        """
        ...

    def fail_attempt(self, purpose: str, username: str, now: datetime, limit: int,
                     duration: timedelta) -> datetime | None:
        """After a wrong password: lock for `duration` once `limit` attempts are counted.

        Returns the new lock's end when this call locked, else None; a lock of a login also
        shows on the user's row (failed_count, locked_until).
        """
        ...

    def clear_attempts(self, purpose: str, username: str,
                       prune_before: datetime | None = None) -> None:
        """Forget the counted attempts (after a success or an admin's password reset), and
        every other name's that began before `prune_before` and is not locked."""
        ...

    def tokens(self, user_id: int | None = None, now: datetime | None = None,
               current: str | None = None) -> list[dict[str, Any]]:
        """Token metadata (id, username, name, kind, created_at, expires_at, current), never
        the hash: of one user or of everyone, unexpired at `now` if given; `current` is the
        hash of the caller's own token, flagged in the list."""
        ...

    def revoke_token(self, token_id: int, actor: str,
                     owner_id: int | None = None) -> dict[str, Any] | None:
        """Delete one token by id (only if `owner_id` owns it, when given), audited; its
        metadata, or None when there was no such token."""
        ...

    def add_token(self, user_id: int, token_hash: str, kind: str, expires_at: datetime | None,
                  name: str = "", csrf: str | None = None) -> None:
        """Store a hashed session, access or API token."""
        ...

    def token_user(self, token_hash: str, kinds: Sequence[str],
                   now: datetime) -> tuple[User, str | None] | None:
        """The user owning a live token of one of the kinds, with the token's CSRF value."""
        ...

    def revoke_tokens(self, user_id: int | None = None, token_hash: str | None = None,
                      keep: str | None = None) -> int:
        """Delete one token, or all of a user's tokens except `keep`."""
        ...


class AuditStore(Protocol):
    """The append-only audit trail (留痕)."""

    def record_audit(self, actor: str, action: str, object_type: str,
                     object_id: str | None, diff: dict[str, Any]) -> None:
        """Append one audit row."""
        ...

    def audit_log(self, actor: str | None = None, object_type: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int | None = 1000, offset: int = 0) -> list[dict[str, Any]]:
        """Audit rows, newest first (offset/limit page them; limit None: all)."""
        ...

    def audit_batches(self, actor: str | None = None, object_type: str | None = None,
                      since: datetime | None = None, until: datetime | None = None,
                      offset: int = 0, size: int = 5000) -> Iterator[list[dict[str, Any]]]:
        """audit_log's rows without a limit, newest first, `size` at a time."""
        ...

    def audit_count(self, actor: str | None = None, object_type: str | None = None,
                    since: datetime | None = None, until: datetime | None = None) -> int:
        """How many audit rows match the filters of audit_log."""
        ...


class JobStore(Protocol):
    """Jobs (uploads and imports in the worker pool); any process can read them."""

    def add_job(self, kind: str, actor: str, unit: str | None = None,
                total: int | None = None, worker: str | None = None) -> int:
        """Record a queued job (worker: the process that runs it); return its id."""
        ...

    def update_job(self, job_id: int, **changes: Any) -> None:
        """Change a job's state, started_at, finished_at, done, total, message, result or
        worker; every change is also a heartbeat."""
        ...

    def heartbeat_jobs(self, job_ids: Sequence[int]) -> None:
        """Mark the queued/running jobs among job_ids alive now."""
        ...

    def fail_stale_jobs(self, before: datetime, message: str, result: dict[str, Any],
                        job_id: int | None = None) -> list[int]:
        """Mark failed the queued/running jobs (or job job_id) whose heartbeat is older than
        before; return their ids."""
        ...

    def job(self, job_id: int) -> dict[str, Any]:
        """One job (NotFound if missing)."""
        ...

    def jobs(self, actor: str | None = None, states: Sequence[str] | None = None,
             limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Jobs, newest first, optionally of one submitter and in some states (paged)."""
        ...

    def job_count(self, actor: str | None = None, states: Sequence[str] | None = None) -> int:
        """How many jobs match the filters of jobs."""
        ...


class NotificationStore(Protocol):
    """Notifications (geo.notify; geo/store/notices.py): each user's in-app notices, webhooks,
    the e-mail and webhook deliveries with their attempts, and the deadline notices (due soon,
    overdue) each issue has had for each deadline."""

    def unit_users(self, units: Sequence[str]) -> list[User]:
        """The active users of the unit role in these units, by username."""
        ...

    def add_notifications(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert in-app notices (username, at, event, issue_id, message); how many."""
        ...

    def notifications(self, username: str, unread: bool | None = None, limit: int = 50,
                      offset: int = 0) -> list[dict[str, Any]]:
        """A user's notices, newest first (unread True: only unread ones; False: only read)."""
        ...

    def notification_count(self, username: str, unread: bool | None = None) -> int:
        """How many notices of the user match (counted in SQL)."""
        ...

    def read_notification(self, notification_id: int, username: str,
                          now: datetime) -> dict[str, Any]:
        """Mark one of the user's notices read; NotFound when it is not the user's."""
        ...

    def read_all_notifications(self, username: str, now: datetime) -> int:
        """Mark every unread notice of the user read; how many were."""
        ...

    def add_webhook(self, url: str, secret: str, events: Sequence[str], actor: str,
                    now: datetime) -> int:
        """Store an active webhook (audited, without its secret); its id."""
        ...

    def webhooks(self, active_only: bool = True) -> list[dict[str, Any]]:
        """Webhooks by id, with their secrets."""
        ...

    def delete_webhook(self, webhook_id: int, actor: str, now: datetime) -> int:
        """Deactivate a webhook, keeping its delivery log (its pending deliveries fail);
        audited. How many pending deliveries failed."""
        ...

    def add_deliveries(self, rows: Sequence[dict[str, Any]]) -> int:
        """Queue e-mail and webhook sends as pending; how many."""
        ...

    def deliveries(self, state: str | None = None, limit: int = 50,
                   offset: int = 0) -> list[dict[str, Any]]:
        """The delivery log, newest first (one state, or all)."""
        ...

    def delivery_count(self, state: str | None = None) -> int:
        """How many deliveries are in the state (all: None)."""
        ...

    def delivery(self, delivery_id: int) -> dict[str, Any]:
        """One delivery (NotFound if missing)."""
        ...

    def claim_deliveries(self, now: datetime, lease_until: datetime,
                         channels: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Take due pending deliveries for one sender until lease_until (safe with several
        senders at once)."""
        ...

    def finish_delivery(self, delivery_id: int, changes: dict[str, Any]) -> None:
        """Record an attempt (state, attempts, next_attempt_at, sent_at, last_error)."""
        ...

    def retry_delivery(self, delivery_id: int, now: datetime, actor: str) -> dict[str, Any]:
        """Send a delivery again from now with a fresh count of attempts (audited)."""
        ...

    def deadline_candidates(self, event: str, now: datetime, cutoff: datetime,
                            limit: int) -> list[Issue]:
        """Open, unpaused issues overdue at now (overdue) or due by cutoff (due_soon) that
        have not had that notice for their present deadline, by deadline."""
        ...

    def add_issue_notices(self, event: str, issues: Sequence[tuple[int, datetime]]
                          ) -> set[int]:
        """Record the event's notice for issues (id, deadline) where not recorded yet; the
        ids recorded now."""
        ...


class TriageStore(Protocol):
    """Claims on issues, open issues near a point, merged duplicates (geo/store/triage.py)."""

    def set_claim(self, issue_id: int, user: User, until: datetime | None, now: datetime,
                  force: bool = False) -> Issue:
        """Claim an issue for the user until `until` (None: release the user's claim), unless
        someone else holds a claim live at `now` (Conflict; `force` breaks it). Audited; the
        issue's version is left as it is."""
        ...

    def issues_near(self, lon: float, lat: float, radius_m: float, box: BBox,
                    statuses: Sequence[str], limit: int, exclude: int | None = None,
                    scope_unit: str | None = None) -> list[tuple[Issue, float]]:
        """Issues in these statuses within radius_m of a point (box holds the circle),
        nearest first, with their distances in metres."""
        ...

    def duplicates_of(self, issue_id: int, limit: int = 100) -> list[Issue]:
        """The issues merged into this one as its duplicates, oldest first."""
        ...


class ReplyTemplateStore(Protocol):
    """Reply templates (回复模板) for the public-facing note (geo/store/replies.py)."""

    def add_reply_template(self, values: dict[str, Any], actor: str) -> dict[str, Any]:
        """Store a template (category, status, title, text), audited."""
        ...

    def update_reply_template(self, template_id: int, values: dict[str, Any],
                              actor: str) -> dict[str, Any]:
        """Replace a template's fields, audited."""
        ...

    def delete_reply_template(self, template_id: int, actor: str) -> None:
        """Delete a template, audited."""
        ...

    def reply_template(self, template_id: int) -> dict[str, Any]:
        """One template (NotFound if missing)."""
        ...

    def reply_templates(self, category: str | None = None, status: str | None = None,
                        limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """The templates that apply to this category and status, most specific first."""
        ...

    def reply_template_count(self, category: str | None = None,
                             status: str | None = None) -> int:
        """How many templates apply to this category and status."""
        ...


class CalendarStore(Protocol):
    """An office's calendar days (days off, extra workdays) and time limits (处置时限)."""

    def calendar_days(self, since: date | None = None, until: date | None = None,
                      limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Entries {id, start_date, end_date, kind, note, created_by, created_at} touching
        since..until (inclusive; None: unbounded), by start date (offset/limit page them)."""
        ...

    def calendar_day_count(self, since: date | None = None, until: date | None = None) -> int:
        """How many entries calendar_days would list without a limit."""
        ...

    def add_calendar_days(self, days: Sequence[dict[str, Any]], actor: str) -> list[int]:
        """Insert entries {start_date, end_date, kind, note} the caller has checked (no
        overlaps: geo.calendar.office), with one audit row; their ids."""
        ...

    def delete_calendar_day(self, day_id: int, actor: str) -> dict[str, Any]:
        """Delete one entry (NotFound if missing), audited; the entry as it was."""
        ...

    def calendar_stamp(self) -> tuple[int, int]:
        """(database identity, version of the calendar days): changes with every write of
        them and when the database is made again (the cache key of a calendar)."""
        ...

    def time_limits(self) -> list[dict[str, Any]]:
        """The office's own limits {category, urgency, amount, unit}."""
        ...

    def time_limit(self, category: str, urgency: str) -> dict[str, Any] | None:
        """The office's limit of a category and urgency; None: the reference default."""
        ...

    def set_time_limits(self, limits: Sequence[dict[str, Any]], actor: str) -> None:
        """Set limits {category, urgency, amount, unit} (amount None: back to the default),
        with one audit row."""
        ...


class ExtensionStore(Protocol):
    """延期 (extension) applications and their decisions."""

    def add_extension(self, issue_id: int, unit: str | None, reason: str,
                      requested_deadline: datetime, old_deadline: datetime | None,
                      actor: str, at: datetime) -> int:
        """Store a pending application, audited; its id."""
        ...

    def extension(self, extension_id: int) -> dict[str, Any]:
        """One application (NotFound if missing)."""
        ...

    def extensions(self, state: str | None = None, units: Sequence[str] = (),
                   issue_id: int | None = None, scope_unit: str | None = None,
                   limit: int | None = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Applications, newest first (state pending | approved | rejected)."""
        ...

    def extension_total(self, state: str | None = None, units: Sequence[str] = (),
                        issue_id: int | None = None, scope_unit: str | None = None) -> int:
        """How many applications `extensions` would list without a limit."""
        ...

    def decide_extension(self, extension_id: int, approve: bool, note: str, actor: str,
                         at: datetime, new_deadline: datetime | None) -> dict[str, Any]:
        """Record the decision of a pending application, audited (Conflict if decided)."""
        ...


class Store(Transactions, FeatureStore, IssueStore, IssueAggregates, IndicatorAggregates,
            TileStore, EvidenceStore, PlanStore, AccountStore, AuditStore, JobStore,
            TriageStore, ReplyTemplateStore, CalendarStore, ExtensionStore, NotificationStore,
            Protocol):
    """What the rest of ccmap may ask of storage: every concept's protocol above (a function
    that needs one concept can ask for that one alone).

    Every call that writes is one transaction, and writes of data (features, issues, users,
    units) append their audit row in that same transaction. `scope_unit` limits reads to what a
    unit user may see.
    """


DEFAULT_POOL_SIZE = 20  # PostgreSQL connections a process keeps open (as many again in bursts)


def in_memory(database_url: str) -> bool:
    """Whether a database URL is an in-memory SQLite database (each process has its own)."""
    if not database_url.startswith("sqlite"):
        return False
    from sqlalchemy.engine import make_url

    name = (make_url(database_url).database or "").strip()
    return not name or name == ":memory:" or "mode=memory" in database_url


def open_store(url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Store:
    """Open (and migrate to the latest schema) the store at a sqlite:/// or postgresql:// URL;
    on PostgreSQL with `pool_size` connections kept open."""
    from geo.store.sql import SqlStore

    return SqlStore(url, pool_size)


BULK_ROWS = 10_000  # a write this large changes the tables enough to refresh the statistics


def after_bulk_write(store: Store, rows: int) -> None:
    """Refresh the planner's statistics when an import wrote at least BULK_ROWS rows."""
    if rows >= BULK_ROWS:
        store.analyze()
