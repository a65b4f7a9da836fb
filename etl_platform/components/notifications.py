"""A view's notification rules as Dagster assets.

For a view `V` with `notifications:` this produces `notifications/V` (what its rules sent,
per rule: sent, retried, dead_lettered, skipped_outside_window, already_sent, in_flight) and
`notifications/V__dead_letters` (the messages that will not be sent, with the reason; the
DuckDB view `V__dead_letters`, like a view's rejects), group `notifications`,
daily-partitioned like the view and depending on `views/V`; and the check
`dead_letter_ratio` on `notifications/V`: WARN when a rule dead-lettered anything or its
channel is not configured here, ERROR when a rule's share of dead letters passes its
`dead_letter_alert_ratio`. The work is `notify.run.notify_days`.

A rule whose channel variables are unset reports "not configured" and sends nothing (the
demo's rule, until its webhook URL is set). A run sends only the rows changed within each
rule's window: a backfill of old days sends nothing unless its config says
`send_outside_window: true`.
"""

from collections.abc import Iterator

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from etl_platform.asset_keys import (
    DEAD_LETTER_CHECK,
    NOTIFICATIONS_GROUP,
    dead_letters_asset_key,
    notifications_asset_key,
    view_asset_key,
)
from etl_platform.automation.conditions import DERIVED_REFRESH
from etl_platform.components.failures import step_failures
from etl_platform.load.duckdb_catalog import register_view
from etl_platform.notify.dead_letters import DEAD_LETTER_SCHEMA, dead_letters_dataset
from etl_platform.notify.run import NotifyOutcome, notify_days
from etl_platform.partitions import (
    allow_beta_backfill_policy,
    bounded_backfill,
    platform_partitions,
    window_days,
)
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec

GROUP = NOTIFICATIONS_GROUP


class NotifyConfig(dg.Config):
    send_outside_window: bool = Field(
        default=False,
        description="Also notify the rows that changed before each rule's window (a backfill "
        "that should notify; by default a backfill of old days sends nothing).",
    )


def _channel_kinds(spec: ViewSpec) -> set[str]:
    return {"email" if r.channel.type == "smtp" else "webhook" for r in spec.notifications}


def build_notification_assets(spec: ViewSpec, sources: SourcesSpec) -> list[dg.AssetsDefinition]:
    """The view's notification assets and check; none for a view without rules."""
    if not spec.notifications:
        return []
    key, letters_key = notifications_asset_key(spec.name), dead_letters_asset_key(spec.name)
    rules = ", ".join(r.name for r in spec.notifications)
    shared = {
        "group_name": GROUP,
        "deps": [view_asset_key(spec.name)],
        "tags": {"view": spec.name},
        # Today's and yesterday's view days, once they passed their blocking checks.
        "automation_condition": DERIVED_REFRESH,
    }
    with allow_beta_backfill_policy():

        @dg.multi_asset(
            name=f"notify__{spec.name}",
            specs=[
                dg.AssetSpec(
                    key,
                    description=f"Messages of {spec.name}'s rules ({rules}), once per row version.",
                    kinds=_channel_kinds(spec),
                    **shared,
                ),
                dg.AssetSpec(
                    letters_key,
                    description=f"Messages of {spec.name}'s rules that will not be sent, and why.",
                    kinds={"parquet"},
                    **shared,
                ),
            ],
            check_specs=[
                dg.AssetCheckSpec(
                    DEAD_LETTER_CHECK,
                    asset=key,
                    description="Per rule: dead letters / (sent + dead letters) stays under the "
                    "rule's dead_letter_alert_ratio (ERROR past it, WARN on any dead letter or "
                    "an unconfigured channel).",
                )
            ],
            partitions_def=platform_partitions(sources),
            backfill_policy=bounded_backfill(sources.extract.max_days_per_run),
        )
        def _notify(
            context: dg.AssetExecutionContext,
            config: NotifyConfig,
            lake: LakeResource,
            duckdb: DuckDBResource,
        ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
            the_lake = lake.lake()
            letters = dead_letters_dataset(the_lake, spec.name)
            with step_failures():
                outcome = notify_days(
                    spec,
                    the_lake,
                    window_days(context.partition_time_window),
                    context.run.run_id,
                    include_old=config.send_outside_window,
                )
            # Over the folder's files (an empty view of the columns before the first one).
            with duckdb.get_connection() as conn:
                register_view(conn, dead_letters_view(spec.name), letters, DEAD_LETTER_SCHEMA)
            yield dg.MaterializeResult(asset_key=key, metadata=notification_metadata(outcome))
            dead = sum(len(v) for v in outcome.dead_letters.values())
            yield dg.MaterializeResult(
                asset_key=letters_key,
                metadata={
                    "dead_letters_this_run": dg.MetadataValue.int(dead),
                    "path": dg.MetadataValue.path(str(letters.dir)),
                    "duckdb_view": dg.MetadataValue.text(dead_letters_view(spec.name)),
                },
            )
            yield dead_letter_check(spec, outcome)
            if outcome.refused:
                raise dg.Failure(
                    description="; ".join(outcome.refused.values()), allow_retries=False
                )

    return [_notify]


def dead_letters_view(view: str) -> str:
    """The DuckDB view over `notifications/<view>__dead_letters`."""
    return f"{view}__dead_letters"


def notification_metadata(outcome: NotifyOutcome) -> dict[str, dg.MetadataValue]:
    """Totals, then `<rule>/<count>` for each rule; `<rule>/status` says when it sent nothing
    because it is not configured here or its channel refused the credentials."""
    metadata: dict[str, dg.MetadataValue] = {}
    fields = (
        "sent",
        "retried",
        "dead_lettered",
        "skipped_outside_window",
        "already_sent",
        "in_flight",
    )
    for field in fields:
        total = sum(getattr(c, field) for c in outcome.counts.values())
        metadata[field] = dg.MetadataValue.int(total)
    for rule, counts in outcome.counts.items():
        for field in ("matched", *fields):
            metadata[f"{rule}/{field}"] = dg.MetadataValue.int(getattr(counts, field))
        if counts.not_configured:
            metadata[f"{rule}/status"] = dg.MetadataValue.text(
                f"not configured: {counts.not_configured}"
            )
        elif rule in outcome.refused:
            metadata[f"{rule}/status"] = dg.MetadataValue.text("stopped: credentials refused")
    return metadata


def dead_letter_check(spec: ViewSpec, outcome: NotifyOutcome) -> dg.AssetCheckResult:
    """ERROR when a rule's dead letters pass its ratio; WARN on any dead letter or a channel
    not configured here; passed otherwise."""
    over = [
        rule.name
        for rule in spec.notifications
        if outcome.counts[rule.name].dead_lettered
        and outcome.counts[rule.name].dead_letter_ratio > rule.dead_letter_alert_ratio
    ]
    dead = sum(c.dead_lettered for c in outcome.counts.values())
    idle = [name for name, c in outcome.counts.items() if c.not_configured]
    severity = dg.AssetCheckSeverity.ERROR if over else dg.AssetCheckSeverity.WARN
    metadata: dict[str, dg.MetadataValue] = {
        f"{name}/dead_letter_ratio": dg.MetadataValue.float(c.dead_letter_ratio)
        for name, c in outcome.counts.items()
    }
    if over:
        metadata["over_threshold"] = dg.MetadataValue.text(", ".join(over))
    if idle:
        metadata["not_configured"] = dg.MetadataValue.text(", ".join(idle))
    return dg.AssetCheckResult(
        asset_key=notifications_asset_key(spec.name),
        check_name=DEAD_LETTER_CHECK,
        passed=not (over or dead or idle),
        severity=severity,
        metadata=metadata,
    )
