"""The verdict ids each flow can reach (DESIGN.md section 1). Stable: JSON, logs, analytics use them."""

from __future__ import annotations

VERDICTS: dict[str, tuple[str, ...]] = {
    "price_not_updated": (
        "not_submitted",
        "awaiting_approval",
        "rejected",
        "waiting_for_report",
        "live_report_behind",
        "updated",  # the latest report already carries the new price
        "still_wrong",  # escalates
    ),
    "upload_sku_missing": (
        "not_in_product_list",
        "deleted",
        "changed",
        "hidden_by_filter",
        "present",
    ),
    "image_grab": ("eligible_tonight", "not_eligible", "grabbed", "last_grab_failed"),
    "product_sku_missing": (
        "omitted_by_platform",
        "in_newer_report",
        "reports_stale",  # escalates
        "present",
    ),
    "orders_not_synced": (
        "synced",
        "other_status",
        "on_platform_not_synced",  # escalates
        "not_on_platform",
        "sync_failed",
    ),
    "image_not_displaying": ("loads_fine", "unreachable", "damaged", "not_an_image"),
    "publish_image_error": ("image_lost", "not_rgb", "platform_unstable", "all_fine"),
    "delete_store_data": ("explained", "deleted", "restored"),
}

FLOW_IDS: tuple[str, ...] = tuple(VERDICTS)
