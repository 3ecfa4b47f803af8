"""统计: shares of deadlines met per stage and township, cases by stage and grade, median days
per stage and a monthly trend, as tables and SVG charts drawn by the app."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response  # noqa: TC002 (FastAPI reads route annotations)

from api.deps import Pool
from api.readmodels import jurisdiction_prefix, wait_for
from api.ui.charts import bar_chart
from api.ui.i18n import language
from api.ui.render import PageRoute, render
from api.ui.session import page_for
from domain import access
from domain.actors import Actor
from domain.i18n import translate
from domain.labels import STAGES, label
from projections.stats import cases_by_stage_and_grade, met_by_township, monthly, summary

router = APIRouter(prefix="/ui", route_class=PageRoute)
Reader = Annotated[Actor, Depends(page_for(access.READERS))]
DayText = Annotated[str | None, Query(max_length=10)]
# Below this share of deadlines met a bar is drawn in the warning colour.
WARN_BELOW = 0.8


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/stats")
async def stats_page(
    request: Request, user: Reader, pool: Pool,
    jurisdiction: Annotated[str | None, Query(max_length=12, pattern=r"^\d*$")] = None,
    start: Annotated[DayText, Query(alias="from")] = None,
    end: Annotated[DayText, Query(alias="to")] = None,
) -> Response:
    """The statistics of the user's area (or a finer code) for a period (default: all)."""
    prefix = jurisdiction_prefix(jurisdiction or None, user.jurisdiction)
    first, last = _day(start), _day(end)
    low = datetime.combine(first or date(1970, 1, 1), time(), UTC)
    high = datetime.combine((last or date(9999, 12, 30)) + timedelta(days=1), time(), UTC)
    await wait_for(pool, "stats", None)
    async with pool.connection() as conn:
        facts = await summary(conn, prefix=prefix, since=low, until=high)
        townships = await met_by_township(conn, prefix=prefix, since=low, until=high)
        trend = await monthly(conn, prefix=prefix, since=low, until=high)
        grid = await cases_by_stage_and_grade(conn, prefix=prefix, since=low, until=high)
    lang = language(request)
    per_stage: dict[str, list[int]] = {}
    for row in facts["deadlines_met"]:
        counts = per_stage.setdefault(row["stage"], [0, 0])
        counts[0] += row["met"]
        counts[1] += row["missed"]
    # Deadlines of the whole case (a review) have no stage: the model files them as "case".
    def stage_name(stage: str) -> str:
        return translate("whole case", lang) if stage == "case" else label(STAGES, stage, lang)

    stage_shares = [(stage_name(stage), met / (met + missed), met, missed)
                    for stage, (met, missed) in per_stage.items()]
    medians = [(label(STAGES, stage, lang), row["median_days"], row["spells"])
               for stage, row in facts["median_days_in_stage"].items()]
    charts = {
        "stage": bar_chart(translate("Share of deadlines met per stage", lang),
                           [(name, share) for name, share, _, _ in stage_shares],
                           share=True, bad_below=WARN_BELOW),
        "township": bar_chart(translate("Share of deadlines met per township", lang),
                              [(row["township"], row["share_met"]) for row in townships],
                              share=True, bad_below=WARN_BELOW),
        "by_stage": bar_chart(translate("Cases by stage", lang),
                              [(label(STAGES, stage, lang), count)
                               for stage, count in facts["by_stage"].items()]),
        "median": bar_chart(translate("Median days per stage", lang),
                            [(name, days) for name, days, _ in medians]),
        "trend": bar_chart(translate("Cases opened per month", lang),
                           [(row["month"], row["opened"]) for row in trend]),
    }
    grades = sorted({row["grade"] for row in grid})
    table: dict[str, dict[str, int]] = {}
    for row in grid:
        table.setdefault(row["stage"], {})[row["grade"]] = row["cases"]
    return render(request, "stats.html", facts=facts, prefix=prefix, charts=charts,
                  stage_shares=stage_shares, townships=townships, trend=trend,
                  medians=medians, grades=grades, grid=table,
                  filters={"jurisdiction": jurisdiction or "", "from": first or "",
                           "to": last or ""})
