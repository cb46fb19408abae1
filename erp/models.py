"""The seller's data as SQLModel tables.

Every table the bot reads or writes lives here so that `create_all` builds a complete, working
database on first start (SQLite or PostgreSQL) with no manual step. Status values are plain
strings checked against the `StrEnum`s below: the database stays readable by people and by other
tools, and adding a status never needs a migration of an enum type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, LargeBinary, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware now in UTC; stored naive-free so SQLite and PostgreSQL agree."""
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core `Table`, for Core statements (SQLModel does not declare `__table__`)."""
    return model.__table__  # type: ignore[attr-defined]


class Platform(StrEnum):
    AMAZON = "amazon"
    SHOPEE = "shopee"


class AuthStatus(StrEnum):
    AUTHORIZED = "authorized"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Role(StrEnum):
    OWNER = "owner"
    MEMBER = "member"
    AGENT = "agent"


class OrderStatus(StrEnum):
    """The ERP's own order statuses (what the seller sees in the software's order pages)."""

    PENDING_REVIEW = "pending_review"
    PENDING_PROCESSING = "pending_processing"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    IGNORED = "ignored"  # fulfilled by the platform (FBA and similar): nothing for the seller to do


class ProductState(StrEnum):
    VALID = "valid"
    DELETED = "deleted"
    CHANGED = "changed"  # the SKU was renamed; `changed_to_sku` says to what


class SalesStatus(StrEnum):
    NORMAL = "normal"
    STOPPED = "stopped"


class UploadStatus(StrEnum):
    """The values of the upload page's status filter."""

    NOT_UPLOADED = "not_uploaded"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    FAILED = "failed"


class ReportKind(StrEnum):
    LISTINGS = "listings"  # product report: GET_MERCHANT_LISTINGS_ALL_DATA
    INVENTORY = "inventory"  # GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA


class ReportStatus(StrEnum):
    REQUESTED = "requested"
    IN_PROGRESS = "in_progress"
    DONE = "done"  # downloaded and imported
    CANCELLED = "cancelled"
    FAILED = "failed"


class PriceChangeStatus(StrEnum):
    DRAFT = "draft"  # saved in the software, never sent to the platform
    SUBMITTED = "submitted"  # sent, awaiting the platform's approval
    APPROVED = "approved"
    REJECTED = "rejected"


class SyncStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class EscalationState(StrEnum):
    OPEN = "open"
    TAKEN = "taken"
    RESOLVED = "resolved"


class Account(SQLModel, table=True):
    """A seller company: the unit that owns stores and whose data a Slack user may see."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=120)
    display_name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Store(SQLModel, table=True):
    """A marketplace store authorized in the ERP."""

    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_store_account_name"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    name: str = Field(max_length=120)
    platform: str = Field(max_length=20)  # Platform
    region: str = Field(default="", max_length=20)  # US, DE, MY, SG ...
    endpoint: str = Field(default="", max_length=500)  # API base URL: real platform, its sandbox, or ours
    auth_endpoint: str = Field(default="", max_length=500)  # token URL (Login with Amazon) when separate
    marketplace_id: str = Field(default="", max_length=40)  # Amazon marketplace id / Shopee shop id
    # Platform credentials (client id/secret, refresh token, partner key...). Never logged.
    credentials: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Connector options (e.g. rate limits for a sandbox store); the published limits apply otherwise.
    options: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    auth_status: str = Field(default=AuthStatus.AUTHORIZED, max_length=20)  # AuthStatus
    auth_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    order_watermark: datetime | None = None  # LastUpdatedAfter for the next incremental sync
    last_order_sync_at: datetime | None = None
    last_order_sync_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    last_report_import_at: datetime | None = None
    last_report_import_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    # Set when the owner deletes the store's data; purged for good after `StoreDeletion.undo_until`.
    deleted_at: datetime | None = None


class SlackIdentity(SQLModel, table=True):
    """A Slack user linked to a seller account (agents may act for any account)."""

    __table_args__ = (UniqueConstraint("team_id", "user_id", name="uq_slack_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=40)
    user_id: str = Field(max_length=40)
    account_id: int = Field(foreign_key="account.id", index=True)
    role: str = Field(default=Role.MEMBER, max_length=20)  # Role
    linked_at: datetime = Field(default_factory=utcnow)


class LinkCode(SQLModel, table=True):
    """A one-time code an admin hands to a seller for `/sellerdesk link CODE`."""

    code: str = Field(primary_key=True, max_length=40)
    account_id: int = Field(foreign_key="account.id")
    role: str = Field(default=Role.MEMBER, max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    used_by: str = Field(default="", max_length=100)


class Order(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("store_id", "platform_order_id", name="uq_order_store_platform_id"),
        Index("ix_order_platform_order_id", "platform_order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: the unique (store_id, platform_order_id) index leads with it, and a
    # second index would cost every synced order an extra index write. No foreign key either:
    # its check cost PostgreSQL about a third of each new order's insert, and stores are never
    # deleted, only hidden and purged with their orders (`erp.store_data`).
    store_id: int
    platform_order_id: str = Field(max_length=80)
    status: str = Field(max_length=30)  # OrderStatus
    platform_status: str = Field(default="", max_length=60)
    fulfillment_channel: str = Field(default="", max_length=30)  # MFN / AFN / ...
    purchased_at: datetime | None = None
    platform_updated_at: datetime | None = None
    total_amount: str = Field(default="", max_length=30)
    currency: str = Field(default="", max_length=10)
    skus: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    synced_at: datetime = Field(default_factory=utcnow)


class Product(SQLModel, table=True):
    """A row of the ERP's product list (what the upload page is built from)."""

    __table_args__ = (UniqueConstraint("store_id", "sku", name="uq_product_store_sku"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    sku: str = Field(max_length=120, index=True)
    title: str = Field(default="", max_length=500)
    state: str = Field(default=ProductState.VALID, max_length=20)  # ProductState
    changed_to_sku: str = Field(default="", max_length=120)
    state_changed_at: datetime | None = None
    price: str = Field(default="", max_length=30)
    currency: str = Field(default="", max_length=10)
    image_urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    has_picture: bool = False
    uploaded: bool = False  # uploaded to the platform and created there
    created_at: datetime = Field(default_factory=utcnow)
    # Last change made through the picture publishing system (rule b of the nightly image grab).
    picture_system_modified_at: datetime | None = None
    sales_status: str = Field(default=SalesStatus.NORMAL, max_length=20)  # SalesStatus


class UploadRecord(SQLModel, table=True):
    """A record on the product upload page."""

    id: int | None = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    sku: str = Field(max_length=120, index=True)
    status: str = Field(max_length=20)  # UploadStatus
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PlatformReport(SQLModel, table=True):
    """One product (listings) or inventory report fetched from a platform or imported from a file."""

    id: int | None = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    kind: str = Field(max_length=20)  # ReportKind
    status: str = Field(default=ReportStatus.REQUESTED, max_length=20)  # ReportStatus
    source: str = Field(default="platform", max_length=20)  # platform | file
    platform_report_id: str = Field(default="", max_length=80)
    requested_at: datetime = Field(default_factory=utcnow)
    generated_at: datetime | None = None  # when the platform generated the data
    imported_at: datetime | None = None
    row_count: int = 0
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class ReportRow(SQLModel, table=True):
    """A row of a platform report. Few columns on purpose: a nightly import writes millions."""

    __table_args__ = (Index("ix_reportrow_report_sku", "report_id", "sku"),)

    id: int | None = Field(default=None, primary_key=True)
    # No foreign key on purpose: checking it cost more server time per row than the COPY itself,
    # and our own code deletes a report's rows with the report (accounts, store_data, pruning).
    report_id: int
    sku: str = Field(max_length=120)
    asin: str = Field(default="", max_length=40)
    title: str = Field(default="", max_length=500)
    price: str = Field(default="", max_length=30)
    quantity: int | None = None
    status: str = Field(default="", max_length=30)  # Active / Inactive / Incomplete ...
    fulfillment_channel: str = Field(default="", max_length=30)
    opened_at: datetime | None = None


class PriceChange(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    sku: str = Field(max_length=120, index=True)
    old_price: str = Field(max_length=30)
    new_price: str = Field(max_length=30)
    currency: str = Field(default="", max_length=10)
    status: str = Field(default=PriceChangeStatus.DRAFT, max_length=20)  # PriceChangeStatus
    created_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    decided_at: datetime | None = None  # approved or rejected
    reject_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    platform_request_id: str = Field(default="", max_length=80)


class ImageGrabRun(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    considered: int = 0
    grabbed: int = 0
    failed: int = 0


class ImageGrabResult(SQLModel, table=True):
    """Per product and run: which rule selected it and what happened."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="imagegrabrun.id", index=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    rule: str = Field(max_length=4)  # a | b | c
    outcome: str = Field(max_length=20)  # grabbed | failed
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    at: datetime = Field(default_factory=utcnow)


class PublishAttempt(SQLModel, table=True):
    """A listing publish (with images) and its result; failures across sellers reveal platform trouble."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    platform: str = Field(max_length=20, index=True)
    sku: str = Field(max_length=120)
    at: datetime = Field(default_factory=utcnow, index=True)
    ok: bool = True
    error_code: str = Field(default="", max_length=60)
    error_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    image_urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SyncRun(SQLModel, table=True):
    """One order sync of one store; `cursor` lets a failed run resume from its last page."""

    id: int | None = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    status: str = Field(default=SyncStatus.RUNNING, max_length=20)  # SyncStatus
    trigger: str = Field(default="manual", max_length=20)  # manual | schedule | slack | console
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    window_start: datetime | None = None
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    cursor: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class StoreDeletion(SQLModel, table=True):
    """The owner's deletion of a store's data: exported first, undoable until `undo_until`."""

    id: int | None = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow)
    export_path: str = Field(default="", max_length=500)
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    undo_until: datetime
    restored_at: datetime | None = None
    purged_at: datetime | None = None


class Escalation(SQLModel, table=True):
    """A thread in the customer-service channel, relayed both ways with the seller's conversation."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    store_id: int | None = Field(default=None, foreign_key="store.id")
    team_id: str = Field(default="", max_length=40)
    seller_user_id: str = Field(default="", max_length=40)
    seller_channel: str = Field(default="", max_length=40)
    seller_thread_ts: str = Field(default="", max_length=40)
    cs_channel: str = Field(default="", max_length=40)
    cs_thread_ts: str = Field(default="", max_length=40, index=True)
    flow: str = Field(default="", max_length=40)
    verdict: str = Field(default="", max_length=60)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    question: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    state: str = Field(default=EscalationState.OPEN, max_length=20)  # EscalationState
    taken_by: str = Field(default="", max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # The seller's language: every notice about the case is in it.
    language: str = Field(default="en", max_length=5)
    # One open case per conversation: "slack:TEAM:CHANNEL:USER" (threads of one DM are one talk).
    conversation_key: str = Field(default="", max_length=200, index=True)
    # The diagnosis (or account snapshot) the case carries, so every re-render keeps its checks.
    evidence: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    evidence_png: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # Delivery to the customer-service channel: empty error and a time once it is there.
    delivered_at: datetime | None = None
    evidence_delivered_at: datetime | None = None
    delivery_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    delivery_attempts: int = 0


class CaseThread(SQLModel, table=True):
    """A seller-side thread that belongs to a case: the seller's replies there reach its agent."""

    __table_args__ = (UniqueConstraint("team_id", "channel", "thread_ts"),)

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    team_id: str = Field(default="", max_length=40)
    channel: str = Field(max_length=40)
    thread_ts: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)


class AnswerRecord(SQLModel, table=True):
    """One answer the bot posted: whose it is, which conversation, the words and the diagnosis.

    Buttons under an answer act for the person it answered; a case opened from it carries its
    question and diagnosis rather than the message text.
    """

    __table_args__ = (
        UniqueConstraint("team_id", "channel", "ts"),
        Index("ix_answer_key", "conversation_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(default="", max_length=40)
    channel: str = Field(max_length=40)
    ts: str = Field(max_length=40)
    user_id: str = Field(default="", max_length=40)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    conversation_key: str = Field(default="", max_length=200)
    language: str = Field(default="en", max_length=5)
    question: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    diagnosis: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class SpentAction(SQLModel, table=True):
    """A button already acted on: (message, action) once, however often it is clicked or retried."""

    key: str = Field(primary_key=True, max_length=200)  # team:channel:message_ts:action
    user_id: str = Field(default="", max_length=40)
    at: datetime = Field(default_factory=utcnow)


class FollowUp(SQLModel, table=True):
    """A re-check the bot promised (e.g. "tell me when the report lands"), run by the scheduler."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)  # report_landed | ...
    account_id: int = Field(foreign_key="account.id")
    store_id: int | None = Field(default=None, foreign_key="store.id")
    sku: str = Field(default="", max_length=120)
    language: str = Field(default="en", max_length=5)
    team_id: str = Field(default="", max_length=40)
    channel: str = Field(default="", max_length=40)
    thread_ts: str = Field(default="", max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    due_at: datetime
    done_at: datetime | None = None
    result: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Feedback(SQLModel, table=True):
    """ "This helped" / "this did not help", kept with the flow and verdict for analytics."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    team_id: str = Field(default="", max_length=40)
    user_id: str = Field(default="", max_length=40)
    flow: str = Field(max_length=40)
    verdict: str = Field(max_length=60)
    helpful: bool


class ConversationState(SQLModel, table=True):
    """What the bot is waiting for in one conversation (a missing detail, a clarification)."""

    key: str = Field(primary_key=True, max_length=200)  # surface:team:channel:user[:thread]
    state: dict[str, object] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class ProcessedEvent(SQLModel, table=True):
    """Slack event ids already handled: a retried delivery is acknowledged and dropped."""

    event_id: str = Field(primary_key=True, max_length=100)
    received_at: datetime = Field(default_factory=utcnow)


class AuditLog(SQLModel, table=True):
    """Every live action: who, when, what, on which account or store, and the result."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=120)  # slack:T123:U456 | cli | scheduler | console:demo
    account_id: int | None = Field(default=None, foreign_key="account.id")
    store_id: int | None = Field(default=None, foreign_key="store.id")
    action: str = Field(max_length=60)  # sync_orders | request_report | convert_image | delete_store_data ...
    result: str = Field(max_length=30)  # ok | failed | refused
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class DeleteConfirmation(SQLModel, table=True):
    """What a delete-confirmation modal was opened for, kept on our side when it is opened.

    The modal carries only the token; the store the typed name must match, and the store that
    is deleted, come from this row, never from what the client sends back. Plain ids (no foreign
    keys): a record outlives nothing it names and never blocks removing an account.
    """

    token: str = Field(primary_key=True, max_length=64)
    actor: str = Field(max_length=120)  # slack:T123:U456: only they can submit it
    account_id: int
    store_id: int
    store_name: str = Field(max_length=200)
    channel: str = Field(default="", max_length=40)
    thread_ts: str = Field(default="", max_length=40)
    language: str = Field(default="en", max_length=5)
    opened_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None


class TaskPost(SQLModel, table=True):
    """A Slack message a background task posted: a retry of the task returns it instead of posting again.

    Keyed by the task's idempotency key and the post's place in the task's sequence of posts.
    """

    __tablename__ = "task_post"

    task_key: str = Field(primary_key=True, max_length=64)
    seq: int = Field(primary_key=True)
    method: str = Field(max_length=60)
    response: str = Field(sa_column=Column(Text, nullable=False))
    posted_at: datetime = Field(default_factory=utcnow, index=True)


class TaskPostIntent(SQLModel, table=True):
    """A message a background task is about to post, written before the post is sent.

    A worker can die after Slack took the message and before `TaskPost` was written; the retry
    finds this row without a `TaskPost` and looks for the message in Slack (by its metadata)
    instead of posting it a second time. A table of its own, so databases made before it get it
    from `create_all` at start (there are no migrations).
    """

    __tablename__ = "task_post_intent"

    task_key: str = Field(primary_key=True, max_length=64)
    seq: int = Field(primary_key=True)
    method: str = Field(max_length=60)
    channel: str = Field(max_length=40)
    thread_ts: str = Field(default="", max_length=40)  # "" for a post at the top of the channel
    intended_at: datetime = Field(default_factory=utcnow, index=True)


class LearnedStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class LearnedExample(SQLModel, table=True):
    """A seller's question labelled by the people who answer: trained on once a person accepts it.

    `flow` is a flow id or "out_of_scope". `source` is "relabel" (an agent set the flow the
    seller really meant) or "not_helpful" (the seller said the answer did not help; the flow is
    the one the bot chose, for a reviewer to correct or reject).
    """

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    flow: str = Field(max_length=40)
    language: str = Field(default="en", max_length=5)
    source: str = Field(max_length=20)  # relabel | not_helpful
    # No foreign key: a case may be purged (demo reset, account removal) while its example stays.
    escalation_id: int | None = Field(default=None, index=True)
    status: str = Field(default=LearnedStatus.PENDING, max_length=20, index=True)  # LearnedStatus
    created_by: str = Field(default="", max_length=120)  # slack:T:U of the agent or seller
    created_at: datetime = Field(default_factory=utcnow)
    reviewed_by: str = Field(default="", max_length=120)
    reviewed_at: datetime | None = None
