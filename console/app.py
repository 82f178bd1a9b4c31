"""The staff console: Starlette + Jinja2, plain HTML, everything through ``store``.

Actions that need the pipeline (re-running checks, sending a reply, building the workbook) are
handed in by the caller as ``ConsoleServices`` callables, so this package imports nothing of ours
but ``store`` and stays a thin layer over the same library the CLI uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Awaitable, BinaryIO, Callable, Sequence
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from jinja2 import pass_context

from checks.domain import FileRole, SubmissionStatus, format_size
from console.auth import LoginLimiter, StaffUser, csrf_ok, new_csrf_token, verify
from console.preview import PreviewError, preview_jpeg
from console.security import DOWNLOAD_CSP, SecurityHeaders, SessionRegistry, safe_link
from store import Store, queries

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLESHEET = Path(__file__).resolve().parent / "static" / "console.css"
PAGE_SIZE = 50
MAX_PAGE = 100_000
MAX_ID = 2**31 - 1  # PostgreSQL integer: a larger id is a bad request, not a database error
MAX_QUERY_CHARS = 200
SESSION_SECONDS = 8 * 3600
STATUS_OPTIONS = [(status.value, status.label) for status in SubmissionStatus]


@dataclass(frozen=True)
class ConsoleSettings:
    campaign_id: str
    campaign_name: str
    timezone: str
    users: dict[str, StaffUser]
    secret_key: str = field(repr=False)
    https_only: bool = True
    categories: tuple[tuple[int, str], ...] = ()
    link_alert_days: int = 3  # the dashboard lists links expiring within this many days that have no file yet

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ConsoleServices:
    """Pipeline actions handed in by ``ingest`` (None: the action is not offered)."""

    recheck: Callable[[str, str], str] | None = None  # (case_no, actor) → new status
    send_reply: Callable[[str, str, str], str] | None = None  # (case_no, kind, actor) → message
    export_xlsx: Callable[[queries.CaseFilter], bytes] | None = None
    last_poll: Callable[[], dict[str, Any]] | None = None
    attach: Callable[[str, str, BinaryIO, str], str] | None = None  # (case_no, name, file, actor) → message
    # () → (the campaign's quota, who is over it): worked out by the quota rule's computation in checks/
    quota_overruns: Callable[[], tuple[Any, Sequence[Any]]] | None = None


class BadQuery(ValueError):
    """A query value the console cannot use: answered with 400 and the reason, never a 500."""


def _parse_date(value: str | None, label: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise BadQuery(f"{label}不是有效的日期（应为 2025-12-10 这样的格式）") from None


def _text_param(params: Any, key: str, label: str) -> str | None:
    value = params.get(key) or None
    if value is None:
        return None
    if len(value) > MAX_QUERY_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadQuery(f"{label}过长或含有控制字符")
    return str(value)


def case_filter(params: Any) -> queries.CaseFilter:
    category = params.get("category") or ""
    status = params.get("status") or None
    if status is not None and status not in SubmissionStatus.codes():
        raise BadQuery("没有这个审查结论")
    if category and not (category.isdigit() and len(category) <= 3):
        raise BadQuery("类别应为类别编号")
    return queries.CaseFilter(
        status=status,
        category_no=int(category) if category else None,
        region=_text_param(params, "region", "地区"),
        received_from=_parse_date(params.get("from"), "起始日期"),
        received_to=_parse_date(params.get("to"), "截止日期"),
        text=_text_param(params, "q", "搜索词"),
    )


def _page(params: Any) -> int:
    raw = params.get("page") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadQuery("页码无效")
    return int(raw)


def _id(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise HTTPException(404, "没有这个文件")
    return int(raw)


def create_app(store: Store, settings: ConsoleSettings, services: ConsoleServices = ConsoleServices(),
               others: Sequence[tuple[ConsoleSettings, ConsoleServices]] = ()) -> Starlette:
    """The console of one campaign (``settings``, ``services``) or of several (``others``: the further campaigns
    of one deployment; users, cookie key and HTTPS come from ``settings``). With several, staff switch campaigns
    with ``?campaign=ID`` (kept in the session); a case's pages and actions are those of the campaign holding it."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.globals["role_label"] = FileRole.label_of
    env.globals["status_label"] = SubmissionStatus.label_of
    env.globals["safe_link"] = safe_link
    env.filters["local"] = pass_context(
        lambda ctx, dt: dt.astimezone(ctx.get("tz") or settings.tz).strftime("%Y-%m-%d %H:%M") if dt else "")
    env.filters["detail"] = lambda d: "；".join(f"{k}：{v}" for k, v in dict(d or {}).items())
    env.filters["filesize"] = format_size
    limiter = LoginLimiter()
    sessions = SessionRegistry(SESSION_SECONDS)
    served = {settings.campaign_id: (settings, services), **{s.campaign_id: (s, sv) for s, sv in others}}
    first = served[settings.campaign_id]

    def chosen(request: Request) -> tuple[ConsoleSettings, ConsoleServices]:
        """The campaign the staff member is looking at: ``?campaign=ID`` picks one, the session keeps it."""
        wanted = request.query_params.get("campaign")
        if wanted in served:
            request.session["campaign"] = wanted
        return served.get(str(request.session.get("campaign") or ""), first)

    def holding(case_ref: str) -> tuple[ConsoleSettings, ConsoleServices]:
        """The campaign that holds the case (case numbers are unique across campaigns)."""
        if len(served) == 1:
            return first
        found = queries.campaign_of_case(store, case_ref, list(served))
        if found is None:
            raise HTTPException(404, f"没有受理编号为 {case_ref.strip()} 的案例")
        return served[found]

    def session_user(request: Request) -> StaffUser | None:
        name = sessions.user(request.session.get("sid"))
        return settings.users.get(name) if name is not None else None

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = new_csrf_token()
        return str(token)

    def render(request: Request, name: str, ctx: dict[str, Any], status_code: int = 200,
               campaign: ConsoleSettings | None = None) -> Response:
        """``campaign``: whose page this is (a case's own campaign), else the one chosen."""
        current = campaign or chosen(request)[0]
        base = {"campaign_name": current.campaign_name, "campaign_id": current.campaign_id, "tz": current.tz,
                "campaigns": [(s.campaign_id, s.campaign_name) for s, _ in served.values()] if len(served) > 1
                else [], "user": session_user(request),
                "csrf": csrf_token(request), "flash": request.session.pop("flash", None)}
        return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status_code)

    async def checked_form(request: Request) -> dict[str, str]:
        form = await request.form()
        if not csrf_ok(request.session.get("csrf"), str(form.get("csrf") or "")):
            raise HTTPException(403, "请求缺少有效的安全令牌（CSRF），请刷新页面后重试")
        return {k: str(v) for k, v in form.items() if isinstance(v, str)}

    Handler = Callable[[Request], Awaitable[Response]]

    def login_required(role: str | None = None) -> Callable[[Handler], Handler]:
        def wrap(handler: Handler) -> Handler:
            async def inner(request: Request) -> Response:
                user = session_user(request)
                if user is None:
                    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
                if role == "reviewer" and not user.can_review:
                    raise HTTPException(403, "只有审核员可以执行此操作")
                return await handler(request)
            return inner
        return wrap

    CaseAction = Callable[[str, dict[str, str], StaffUser], Awaitable[str]]

    def case_action(action: CaseAction) -> Handler:
        """A reviewer's POST on one case: ``action`` gets the case number, the CSRF-checked form and the user, and
        returns the flash message shown on the case page it redirects back to."""
        @login_required("reviewer")
        async def inner(request: Request) -> Response:
            case_no = request.path_params["case_no"]
            form = await checked_form(request)
            user = session_user(request)
            if user is None:
                raise HTTPException(404)
            request.session["flash"] = await action(case_no, form, user)
            return RedirectResponse(f"/cases/{quote(case_no)}", status_code=303)
        return inner

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return render(request, "login.html", {"error": None})
        form = await checked_form(request)
        name, password = form.get("username", "").strip(), form.get("password", "")
        client = request.client.host if request.client else "unknown"
        wait = limiter.wait_seconds(name, client)
        if wait > 0:
            return render(request, "login.html", {"error": f"尝试次数过多，请 {wait:.0f} 秒后再试"}, 429)
        user = await run_in_threadpool(verify, settings.users, name, password)
        if user is None:
            limiter.failed(name, client)
            return render(request, "login.html", {"error": "用户名或密码错误"}, 401)
        limiter.succeeded(name, client)
        sessions.end(request.session.get("sid"))
        request.session.clear()  # a fresh session on sign-in (no fixation)
        request.session["sid"] = sessions.start(user.name)
        request.session["csrf"] = new_csrf_token()
        target = request.query_params.get("next") or "/"
        return RedirectResponse(target if target.startswith("/") and not target.startswith("//") else "/", 303)

    async def logout(request: Request) -> Response:
        await checked_form(request)
        sessions.end(request.session.get("sid"))  # every copy of the cookie stops working
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @login_required()
    async def dashboard(request: Request) -> Response:
        camp, acts = chosen(request)
        stats = await run_in_threadpool(queries.campaign_stats, store, camp.campaign_id, tz=camp.tz,
                                        top_reasons=10)
        health = await run_in_threadpool(acts.last_poll) if acts.last_poll else {}
        quota, overruns = await run_in_threadpool(acts.quota_overruns) if acts.quota_overruns else (None, ())
        peak = max([c.count for c in stats.by_day] + [1])
        links = await run_in_threadpool(queries.pending_links, store, camp.campaign_id,
                                        within_days=max(camp.link_alert_days, 0))
        overview = await run_in_threadpool(_overview) if len(served) > 1 else []
        return render(request, "dashboard.html", {"stats": stats, "health": health, "day_peak": peak,
                                                  "links": links, "link_days": camp.link_alert_days,
                                                  "now": datetime.now(camp.tz), "overview": overview,
                                                  "quota": quota, "overruns": overruns,
                                                  "cat_peak": max([c.count for c in stats.by_category] + [1])})

    def _overview() -> list[tuple[str, str, int, int]]:
        """Every campaign at a glance: (id, name, cases, waiting for review)."""
        review = queries.CaseFilter(status=SubmissionStatus.NEEDS_REVIEW)
        return [(s.campaign_id, s.campaign_name, queries.count_cases(store, s.campaign_id),
                 queries.count_cases(store, s.campaign_id, review)) for s, _ in served.values()]

    @login_required()
    async def cases(request: Request) -> Response:
        camp, _acts = chosen(request)
        filt = case_filter(request.query_params)
        page = _page(request.query_params)
        rows = await run_in_threadpool(queries.list_cases, store, camp.campaign_id, filt, tz=camp.tz,
                                       limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        total = await run_in_threadpool(queries.count_cases, store, camp.campaign_id, filt, tz=camp.tz)
        params = {k: v for k, v in request.query_params.items() if k not in ("page", "campaign") and v}
        return render(request, "cases.html", {
            "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
            "params": params, "query": urlencode(params), "statuses": STATUS_OPTIONS,
            "categories": camp.categories})

    async def _detail(case_ref: str) -> tuple[ConsoleSettings, ConsoleServices, queries.CaseDetail]:
        camp, acts = await run_in_threadpool(holding, case_ref)
        try:
            return camp, acts, await run_in_threadpool(queries.case_detail, store, camp.campaign_id, case_ref)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc

    @login_required()
    async def case_page(request: Request) -> Response:
        camp, acts, detail = await _detail(request.path_params["case_no"])
        linked = await run_in_threadpool(_linked_addresses, detail.case.case_no)
        return render(request, "case.html", {"d": detail, "c": detail.case, "statuses": STATUS_OPTIONS,
                                             "can_recheck": acts.recheck is not None,
                                             "can_reply": acts.send_reply is not None,
                                             "can_attach": acts.attach is not None,
                                             "categories": camp.categories, "linked": linked}, campaign=camp)

    def _linked_addresses(case_no: str) -> list[str]:
        case_id = store.case_id_by_no(case_no)
        return store.linked_addresses(case_id) if case_id is not None else []

    @case_action
    async def link_address(case_no: str, form: dict[str, str], user: StaffUser) -> str:
        """Issue 15.1: another address of the same school may send new versions of the case (the CLI's
        ``intake link``)."""
        address = form.get("address", "").strip()
        if "@" not in address or any(ch.isspace() for ch in address) or len(address) > 254:
            return f"未登记：不是邮件地址：{address[:80]}"
        try:
            done = await run_in_threadpool(store.link_address, case_no, address, actor=user.name,
                                           reason=form.get("reason", ""))
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        return f"已登记 {address}" if done else f"{address} 已经可以更新本案例"

    @case_action
    async def override(case_no: str, form: dict[str, str], user: StaffUser) -> str:
        """A reviewer's verdict replaces the checks' (with a reason, kept in the case's history)."""
        camp, _acts = await run_in_threadpool(holding, case_no)
        try:
            result = await run_in_threadpool(queries.override_status, store, camp.campaign_id, case_no,
                                             form.get("status") or None, form.get("reason", ""), actor=user.name)
            return (f"已改判：{SubmissionStatus.label_of(result.previous)} → "
                    f"{SubmissionStatus.label_of(result.current)}")
        except ValueError as exc:
            return f"未改判：{exc}"

    @case_action
    async def correct(case_no: str, form: dict[str, str], user: StaffUser) -> str:
        """Corrected case fields (province, city, unit, case name, category) as the form gives them."""
        camp, _acts = await run_in_threadpool(holding, case_no)
        changes: dict[str, Any] = {}
        for key in ("province", "city", "organization", "case_name"):
            if key in form:
                changes[key] = form[key].strip() or None
        if form.get("category_no", "").isdigit():
            no = int(form["category_no"])
            names = dict(camp.categories)
            if no in names:
                changes["category_no"], changes["category"] = no, names[no]
        try:
            changed = await run_in_threadpool(queries.correct_fields, store, camp.campaign_id, case_no, changes,
                                              actor=user.name)
            return f"已更正 {len(changed)} 项" if changed else "没有改动"
        except ValueError as exc:
            return f"未更正：{exc}"

    @case_action
    async def recheck(case_no: str, form: dict[str, str], user: StaffUser) -> str:
        """The case's current version checked again (the pipeline's service; 404 without one)."""
        _camp, acts = await run_in_threadpool(holding, case_no)
        if acts.recheck is None:
            raise HTTPException(404)
        status = await run_in_threadpool(acts.recheck, case_no, user.name)
        return f"已重新审查：{SubmissionStatus.label_of(status)}"

    @login_required("reviewer")
    async def attach(request: Request) -> Response:
        """Staff upload the file behind a link (or any missing file): it joins the current version and the
        version is checked again."""
        case_no = request.path_params["case_no"]
        user = session_user(request)
        _camp, acts = await run_in_threadpool(holding, case_no)
        if acts.attach is None or user is None:
            raise HTTPException(404)
        async with request.form(max_files=1) as form:
            if not csrf_ok(request.session.get("csrf"), str(form.get("csrf") or "")):
                raise HTTPException(403, "请求缺少有效的安全令牌（CSRF），请刷新页面后重试")
            upload = form.get("file")
            if isinstance(upload, str) or upload is None or not upload.filename:
                request.session["flash"] = "未添加：请选择要上传的文件"
                return RedirectResponse(f"/cases/{quote(case_no)}", status_code=303)
            try:
                request.session["flash"] = await run_in_threadpool(acts.attach, case_no, upload.filename,
                                                                   upload.file, user.name)
            except LookupError as exc:
                request.session["flash"] = f"未添加：{exc}"
        return RedirectResponse(f"/cases/{quote(case_no)}", status_code=303)

    @case_action
    async def reply(case_no: str, form: dict[str, str], user: StaffUser) -> str:
        """A reply of the chosen kind sent to the case's sender (the pipeline's service; 404 without one)."""
        _camp, acts = await run_in_threadpool(holding, case_no)
        if acts.send_reply is None:
            raise HTTPException(404)
        try:
            return await run_in_threadpool(acts.send_reply, case_no, form.get("kind", ""), user.name)
        except (ValueError, LookupError) as exc:
            return f"未发送：{exc}"

    def _attachment(attachment_id: int) -> tuple[str, str] | None:
        """(name, path) of a file of any campaign this console serves."""
        for campaign_id in served:
            found = store.attachment_file(campaign_id, attachment_id)
            if found is not None:
                return found
        return None

    async def stored_file(request: Request) -> tuple[str, str]:
        """The original name and stored path of the file the request names; 404 when no campaign has it."""
        found = await run_in_threadpool(_attachment, _id(request.path_params["attachment_id"]))
        if found is None:
            raise HTTPException(404, "没有这个文件")
        return found

    @login_required()
    async def download(request: Request) -> Response:
        name, path = await stored_file(request)
        # A stranger's bytes are only ever saved, never rendered: no type a browser would execute, no inline.
        return FileResponse(path, media_type="application/octet-stream", filename=name,
                            content_disposition_type="attachment",
                            headers={"Content-Security-Policy": DOWNLOAD_CSP, "Cache-Control": "private, no-store"})

    @login_required()
    async def preview(request: Request) -> Response:
        """A thumbnail the server drew itself (Pillow → JPEG) from a photo: never the uploaded bytes."""
        _name, path = await stored_file(request)
        try:
            data = await run_in_threadpool(preview_jpeg, Path(path))
        except PreviewError as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    async def stylesheet(request: Request) -> Response:
        return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @login_required()
    async def export(request: Request) -> Response:
        camp, acts = chosen(request)
        if acts.export_xlsx is None:
            raise HTTPException(404)
        data = await run_in_threadpool(acts.export_xlsx, case_filter(request.query_params))
        name = f"{camp.campaign_name}汇总表-{datetime.now(camp.tz):%Y%m%d}.xlsx"
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", dashboard),
        Route("/cases", cases),
        Route("/cases/{case_no}", case_page),
        Route("/cases/{case_no}/override", override, methods=["POST"]),
        Route("/cases/{case_no}/fields", correct, methods=["POST"]),
        Route("/cases/{case_no}/recheck", recheck, methods=["POST"]),
        Route("/cases/{case_no}/reply", reply, methods=["POST"]),
        Route("/cases/{case_no}/attach", attach, methods=["POST"]),
        Route("/cases/{case_no}/addresses", link_address, methods=["POST"]),
        Route("/attachments/{attachment_id}", download),
        Route("/attachments/{attachment_id}/preview", preview),
        Route("/static/console.css", stylesheet),
        Route("/export.xlsx", export),
    ]
    middleware = [Middleware(SecurityHeaders),
                  Middleware(SessionMiddleware, secret_key=settings.secret_key, https_only=settings.https_only,
                             same_site="strict", session_cookie="intake_session", max_age=SESSION_SECONDS)]

    async def bad_query(request: Request, exc: Exception) -> Response:
        return Response(f"请求参数无效：{exc}", status_code=400, media_type="text/plain; charset=utf-8")

    return Starlette(routes=routes, middleware=middleware, exception_handlers={BadQuery: bad_query})
