"""The owner's dashboard: the /stats figures for a period with weekly SVG charts
(purchases, revenue, new members, CSAT), segments with counts and what each means,
campaigns with the uplift and its interval, and a customer lookup with the /client card.
The numbers come from ``bot.services.insight``, ``campaigns.report`` and
``members.client_card``, the words from the chat's own blocks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot.services.campaigns import report as campaign_report
from bot.services.context import Business
from bot.services.insight import kpis, satisfaction, segments, stats
from bot.services.members.client_card import client_card, strategy_wordings
from bot.services.people import customers
from bot.services.people.audit import audit_by
from bot.services.people.roles import Role
from bot.webapp.auth import WebUser
from bot.webapp.charts import Bar, bar_chart
from bot.webapp.pages import BadRequest, Route, body, chat_text, endpoint, field, fragment
from handlers.commands import MAX_FIND_QUERY
from handlers.segments import label_of
from handlers.stats import DEFAULT_DAYS, PERIOD_BUTTONS


def _bars(biz: Business, locale: str, starts: Sequence[datetime], values: Sequence[Any],
          how: str) -> list[Bar]:  # fmt: skip
    week = biz.texts.plain
    return [
        Bar(
            week(locale, "owner.chart_week", start=start),
            float(v or 0),
            "—" if v is None else biz.texts.format(locale, how, v),
        )
        for start, v in zip(starts, values, strict=True)
    ]


async def weekly_csat(biz: Business, report: stats.StatsReport) -> list[float | None]:
    """CSAT per week of the report (``satisfaction.csat``, the /stats definition)."""
    starts = report.weekly.starts
    end = kpis.period_bounds(biz, report.days)[1]
    ends = [*starts[1:], end]
    return [(await satisfaction.csat(biz, s, e)).pct for s, e in zip(starts, ends, strict=True)]


async def weekly_charts(biz: Business, locale: str, report: stats.StatsReport) -> list[Markup]:
    weekly, title = report.weekly, biz.texts.plain
    csat = await weekly_csat(biz, report)
    return [
        bar_chart(title(locale, "owner.chart_purchases"),
                  _bars(biz, locale, weekly.starts, weekly.purchases, "num")),
        bar_chart(title(locale, "owner.chart_revenue"),
                  _bars(biz, locale, weekly.starts, weekly.revenue, "money")),
        bar_chart(title(locale, "owner.chart_new_members"),
                  _bars(biz, locale, weekly.starts, weekly.new_members, "num")),
        bar_chart(title(locale, "web/owner.chart_csat"),
                  _bars(biz, locale, weekly.starts, csat, "pct")),
    ]  # fmt: skip


def segment_charts(biz: Business, user: WebUser, counts: segments.SegmentCounts) -> list[Markup]:
    words = strategy_wordings(user.actor.locale)
    locale = user.actor.locale
    return [
        bar_chart(
            biz.texts.plain(locale, "owner.dimension_title", dimension=dimension),
            [
                Bar(
                    label_of(biz, user.actor, dimension, value, words),
                    n,
                    biz.texts.format(locale, "num", n),
                )
                for value, n in counts.by[dimension]
            ],
        )
        for dimension in segments.DIMENSIONS
    ]


async def dashboard(biz: Business, user: WebUser, days: int) -> web.Response:
    report = await stats.stats_report(biz, days)
    counts = await segments.segment_counts(biz)
    campaigns = await campaign_report.recent(biz)
    await audit_by(biz, user.actor, "web:dashboard", None, days=days)
    words = strategy_wordings(user.actor.locale)
    return fragment(
        biz, user, "owner.page", days=days, periods=PERIOD_BUTTONS,
        charts=await weekly_charts(biz, user.actor.locale, report),
        figures=chat_text(biz, user, "owner.stats_report", s=report,
                          window=biz.settings.scoring.active_window_days),
        segment_charts=segment_charts(biz, user, counts) if counts.scored else [],
        segments=chat_text(biz, user, "owner.segments_report", c=counts, strategies=words)
        if counts.scored else chat_text(biz, user, "owner.segments_none"),
        campaigns=chat_text(biz, user, "campaigns.report", reports=campaigns,
                            days=biz.settings.campaigns.report_days)
        if campaigns else chat_text(biz, user, "campaigns.none"),
    )  # fmt: skip


def routes(biz: Business, token: str) -> dict[str, Route]:
    async def page(request: web.Request, user: WebUser) -> web.Response:
        days = (await body(request)).get("days", DEFAULT_DAYS)
        if isinstance(days, str) and days.isascii() and days.isdigit() and len(days) < 4:
            days = int(days)
        if days not in PERIOD_BUTTONS:
            raise BadRequest("bad period")
        return await dashboard(biz, user, days)

    async def lookup(request: web.Request, user: WebUser) -> web.Response:
        """What /client does: one match shows the profile card, several are listed."""
        query = field(await body(request), "query", MAX_FIND_QUERY)
        if not query:
            raise BadRequest("empty query")
        found = await customers.search(biz, query)
        if len(found) != 1:
            await audit_by(biz, user.actor, "web:client_search", None, found=len(found))
            reply = "staff.find_results" if found else "staff.find_none"
            return fragment(biz, user, "owner.client",
                            text=chat_text(biz, user, reply, found=found, query=query))  # fmt: skip
        card = await client_card(biz, found[0].card_code, user.actor.locale)
        await audit_by(biz, user.actor, "web:client", None,
                       customer_id=card.customer.customer_id)  # fmt: skip
        return fragment(biz, user, "owner.client",
                        text=chat_text(biz, user, "owner.client_card", c=card))  # fmt: skip

    return {
        "owner": endpoint(biz, token, Role.OWNER, page),
        "owner/client": endpoint(biz, token, Role.OWNER, lookup),
    }
