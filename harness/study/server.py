"""`harness study serve`: the voting page and its small JSON API (Starlette, served by uvicorn).

Routes: `/` the page (`?rater=NAME`; a name, or any token a team hands out in the link), `/api/next`
the rater's next trial, `/api/vote` one vote (committed before the reply), `/img/<trial>/<gray|left|right>`
the trial's images (their URLs never name a point). Bound to 127.0.0.1 by default; on any other
host every request must carry the study's token (`?token=`, or the `X-Study-Token` header). Bad
requests get a 4xx JSON reply `{"error": reason}`.
"""

from __future__ import annotations

import hmac
import json
import re
from importlib import resources

from harness.study.store import Study, VoteRefused

RATER = re.compile(r"^[\w.@+ -]{1,64}$")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_BODY = 4096
PROMPTS = {"preference": "Which colorization looks better?",
           "real-or-fake": "Which one is the real colour photo?"}


def _rater(value) -> str:
    if not isinstance(value, str) or not RATER.match(value.strip()):
        raise VoteRefused(400, "a rater is a name or token of 1-64 letters, digits, spaces or . @ + - _ "
                               "(add ?rater=NAME to the link).")
    return value.strip()


def _trial(study: Study, value) -> int:
    try:
        trial = int(value)
    except (TypeError, ValueError):
        raise VoteRefused(400, f"trial must be a number, not {value!r}.") from None
    if trial not in study.by_id:
        raise VoteRefused(404, f"this study has no trial {trial}.")
    return trial


def make_app(study: Study, require_token: bool):
    """The study's web app; with `require_token`, every request must carry the study's token."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    page = resources.files("harness.study").joinpath("page.html").read_text(encoding="utf-8")

    def refuse(status: int, reason: str) -> JSONResponse:
        return JSONResponse({"error": reason}, status_code=status)

    class Guard(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            if require_token:
                given = request.query_params.get("token") or request.headers.get("x-study-token") or ""
                if not hmac.compare_digest(given.encode(), study.token.encode()):
                    return refuse(403, "this study needs its token: open the link `harness study serve` printed.")
            return await call_next(request)

    def index(request):
        settings = {"kind": study.kind, "prompt": PROMPTS[study.kind], "cap": study.cap, "study": study.id}
        return HTMLResponse(page.replace("/*SETTINGS*/{}", json.dumps(settings)),
                            headers={"Cache-Control": "no-store"})

    def next_trial(request):
        rater = _rater(request.query_params.get("rater"))
        trial = study.next_trial(rater)
        done = len(study.voted(rater))
        body = {"rater": rater, "done": done, "cap": min(study.cap, len(study.trials))}
        if trial is not None:
            body["trial"] = trial.id
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def vote(request):
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return refuse(413, f"a vote is a small JSON object (at most {MAX_BODY} bytes).")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return refuse(400, "the body must be JSON: {\"rater\": ..., \"trial\": ..., \"choice\": ...}.")
        if not isinstance(data, dict):
            return refuse(400, "the body must be a JSON object with rater, trial and choice.")
        rater, trial = _rater(data.get("rater")), _trial(study, data.get("trial"))
        from starlette.concurrency import run_in_threadpool

        done = await run_in_threadpool(study.vote, rater, trial, str(data.get("choice")))
        return JSONResponse({"ok": True, "done": done})

    def image(request):
        trial = study.by_id[_trial(study, request.path_params["trial"])]
        which = request.path_params["which"]
        label = {"gray": "gray", "left": trial.left, "right": trial.right}.get(which)
        if label is None:
            return refuse(404, f"an image is gray, left or right, not {which!r}.")
        data = study.image(f"{trial.image_id}|{label}")
        if data is None:
            return refuse(404, f"the study holds no image for trial {trial.id} ({which}).")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    async def refused(request, exc):
        return refuse(exc.status, exc.message)

    async def not_found(request, exc):
        return refuse(getattr(exc, "status_code", 404), getattr(exc, "detail", "") or "no such page.")

    routes = [Route("/", index), Route("/api/next", next_trial), Route("/api/vote", vote, methods=["POST"]),
              Route("/img/{trial}/{which}", image)]
    return Starlette(routes=routes, middleware=[Middleware(Guard)],
                     exception_handlers={404: not_found, 405: not_found, VoteRefused: refused})


def links(study: Study, host: str, port: int, require_token: bool) -> str:
    token = f"&token={study.token}" if require_token else ""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}/?rater=NAME{token}"


def serve_study(study: Study, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until Ctrl-C or SIGTERM; each vote is already on disk when its reply leaves."""
    import click
    import uvicorn

    require_token = host not in LOOPBACK
    what = f"{len(study.trials)} trials, at most {study.cap} per rater"
    click.echo(f"Study {study.id} ({study.kind}, {what}): open {links(study, host, port, require_token)} "
               f"(one NAME per rater). Ctrl-C stops it; no vote is lost.")
    if require_token:
        click.echo("Bound beyond this machine: every request must carry the study's token (it is in the link).")
    uvicorn.run(make_app(study, require_token), host=host, port=port, log_level="warning", access_log=False)
