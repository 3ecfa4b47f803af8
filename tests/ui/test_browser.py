"""The pages in a real browser (Debian's Chromium), as their users work them: a supervisor,
an inspector, a caseworker, a supervisor of another county, and a sign-in through an
OpenID Connect provider."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from playwright.sync_api import expect

from api.cli.migrate import migrate_database
from api.main import create_app
from api.settings import Settings
from deploy.ports import free_port
from tests.api.support import served
from tests.ui.browser import screenshot, sign_in
from tests.ui.idp import identity_provider

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page

    from tests.ui.browser import Site

TOWNSHIP = "511102001"
VILLAGE = "511102001001"
SUPERVISOR = ("sv-1", ["supervisor"], TOWNSHIP)
INSPECTOR = ("in-1", ["inspector"], TOWNSHIP)
CASEWORKER = ("cw-1", ["caseworker"], TOWNSHIP)


def test_a_supervisor_sees_a_miss_live_acknowledges_it_and_approves_a_closure(
    page: Page, site: Site,
) -> None:
    overdue = site.open_case(VILLAGE, days_ago=10)
    site.miss_intake(overdue)
    asked = site.open_case(VILLAGE)
    site.act(asked, {"action": "request_approval", "subject": "closure", "reason": "resolved"},
             *CASEWORKER)
    own = site.open_case(VILLAGE)
    site.act(own, {"action": "request_approval", "subject": "closure", "reason": "resolved"},
             *SUPERVISOR)
    site.caught_up()
    sign_in(page, site, *SUPERVISOR)

    # The board: the overdue intake, its township's count, and the filters.
    expect(page.get_by_role("heading", name="逾期看板")).to_be_visible()
    row = page.locator("#board tbody tr", has=page.locator(f'a[href="/ui/cases/{overdue}"]'))
    expect(row).to_contain_text("受理时限")
    expect(row).to_contain_text("已逾期")
    expect(page.locator(".counts")).to_contain_text(TOWNSHIP)
    page.get_by_label("时限类型").select_option(label="受理时限")
    page.get_by_role("button", name="筛选").click()
    expect(row).to_be_visible()
    page.get_by_label("时限类型").select_option(label="评估时限")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator(f'#board a[href="/ui/cases/{overdue}"]')).to_have_count(0)

    # The inbox: a deadline missed while the page is open appears without a reload.
    page.get_by_role("link", name="通知").click()
    expect(page.locator("#live-status")).to_contain_text("新通知到达时会自动显示在此")
    later = site.open_case(VILLAGE, days_ago=10)
    notice = site.miss_intake(later)
    live = page.locator(f'#inbox tr[data-id="{notice}"]')
    expect(live).to_contain_text("受理时限", timeout=15_000)
    live.get_by_role("button", name="确认").click()
    expect(page.get_by_role("status")).to_contain_text("已确认")
    expect(page.locator(f'#inbox tr[data-id="{notice}"]')).to_contain_text("sv-1")

    # Approvals: one click and a confirmation; the supervisor's own request is refused.
    page.get_by_role("link", name="审批").click()
    request = page.locator("#approvals tbody tr", has=page.locator(f'a[href="/ui/cases/{asked}"]'))
    expect(request).to_contain_text("cw-1")
    request.get_by_role("link", name="批准").click()
    expect(page.get_by_role("heading", name="确认批准")).to_be_visible()
    page.get_by_role("button", name="确认批准").click()
    expect(page.get_by_role("status")).to_contain_text("已批准")
    expect(page.locator(f'#approvals a[href="/ui/cases/{asked}"]')).to_have_count(0)
    mine = page.locator("#approvals tbody tr", has=page.locator(f'a[href="/ui/cases/{own}"]'))
    mine.get_by_role("link", name="批准").click()
    page.get_by_role("button", name="确认批准").click()
    expect(page.get_by_role("alert")).to_contain_text("不能审批本人提请的事项")


def test_an_inspector_moves_back_in_time_sees_the_badge_and_downloads_the_file(
    page: Page, site: Site,
) -> None:
    case_id = site.open_case(VILLAGE)
    site.act(case_id, {"action": "accept_report", "grade": "yellow", "assignee": "cw-1"},
             *CASEWORKER)
    site.caught_up()
    sign_in(page, site, *INSPECTOR, then="/ui/cases")
    page.locator(f'#cases a[href="/ui/cases/{case_id}"]').click()

    expect(page.locator("#chain")).to_contain_text("哈希链校验通过")
    now = page.locator("#state-stage").inner_text()
    assert now != "报告"  # accepted: the case moved on
    expect(page.locator("#events")).to_contain_text("受理")
    page.locator("#version").fill("1")
    page.get_by_role("button", name="查看此记录时的状态").click()
    expect(page.locator("#state-stage")).to_have_text("报告")
    expect(page.locator("#event-2")).to_have_class("later")
    page.get_by_label("日期").fill("2001-01-01")
    page.get_by_role("button", name="查看该时刻的状态").click()
    expect(page.locator("#state-stage")).to_contain_text("尚未立案")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="下载签名案卷").click()
    download = downloading.value
    assert download.suggested_filename == f"case-{case_id}.json"
    document = json.loads(download.path().read_text(encoding="utf-8"))
    assert str(case_id) in json.dumps(document)


def test_a_caseworker_and_another_county_are_kept_out(page: Page, site: Site) -> None:
    case_id = site.open_case(VILLAGE)
    sign_in(page, site, *CASEWORKER)
    expect(page.get_by_role("navigation")).not_to_contain_text("通知")
    answer = page.goto(f"{site.base_url}/ui/inbox")
    assert answer is not None
    assert answer.status == 403
    expect(page.get_by_role("heading", name="您无权打开此页面")).to_be_visible()
    page.get_by_role("button", name="退出").click()

    sign_in(page, site, "sv-9", ["supervisor"], "511111")
    answer = page.goto(f"{site.base_url}/ui/cases/{case_id}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="未找到")).to_be_visible()


def test_english_layout_fonts_and_screenshots(page: Page, site: Site, tmp_path: Path) -> None:
    case_id = site.open_case(VILLAGE, days_ago=10)
    site.miss_intake(case_id)
    site.caught_up()
    sign_in(page, site, "ad-1", ["admin"], TOWNSHIP)
    # The CJK font is there: Chinese renders as glyphs, not empty boxes.
    assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '逾期')")
    # Keyboard: the first Tab reaches the skip link.
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    pages = {"board": "/ui/board", "inbox": "/ui/inbox", "approvals": "/ui/approvals",
             "stats": "/ui/stats", "cases": "/ui/cases", "timeline": f"/ui/cases/{case_id}",
             "access": "/ui/access"}
    for name, path in pages.items():
        page.goto(f"{site.base_url}{path}")
        screenshot(page, name, tmp_path)
    page.goto(f"{site.base_url}/ui/login")  # signed in: straight on to the board
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Overdue board")).to_be_visible()
    screenshot(page, "board-en", tmp_path)
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("heading", name="逾期看板")).to_be_visible()
    # A phone's width: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    for name in ("board", "timeline"):
        page.goto(f"{site.base_url}{pages[name]}")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{name} is {wide}px wide on a phone"
        screenshot(page, f"{name}-phone", tmp_path)


def test_a_supervisor_signs_in_with_the_identity_provider(
    page: Page, db_url: str, tmp_path: Path,
) -> None:
    """The provider's redirect back is cross-site (another host name, so another site): the
    Strict session cookie must still be there on the page the browser lands on."""
    idp_port, app_port = free_port(), free_port()
    issuer, base = f"http://localhost:{idp_port}", f"http://127.0.0.1:{app_port}"
    settings = Settings.model_validate({
        "state_dir": tmp_path, "database_url": db_url, "public_url": base,
        "oidc_issuer": issuer, "oidc_client_id": "wardship-pages",
        "jwt_jwks_url": f"{issuer}/jwks", "jwt_issuer": issuer, "jwt_audience": "wardship"})
    migrate_database(settings)
    provider = identity_provider(issuer, "wardship-pages", "wardship", {
        "sub": "sv-7", "name": "Invented Supervisor", "roles": ["supervisor"],
        "jurisdiction": TOWNSHIP})
    with served(provider, idp_port), served(create_app(settings), app_port):
        page.goto(f"{base}/ui/inbox")
        page.get_by_role("link", name="使用统一身份认证登录").click()
        page.wait_for_url(f"{base}/ui/inbox")
        expect(page.get_by_role("heading", name="通知")).to_be_visible()
        expect(page.locator(".user")).to_contain_text("Invented Supervisor")
        page.goto("about:blank")  # closes the live inbox's stream, so the server stops at once
