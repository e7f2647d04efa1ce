"""Public pages that take input: check a message against debunks, report content, track a report by receipt.

Forms are plain POSTs that redirect (they work without JavaScript). Never echo contact data back to a page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from qinglang.cases.intake import MAX_IMAGES
from qinglang.errors import Invalid, NotFound, TooLarge
from qinglang.media.load import MAX_BYTES as MAX_IMAGE_BYTES
from qinglang.taxonomy import CATEGORIES
from qinglang.web.render import app_db, app_settings, pick_lang, redirect, render

router = APIRouter(include_in_schema=False)
MAX_IMAGE_MB = MAX_IMAGE_BYTES // (1024 * 1024)


@router.get("/check", response_class=HTMLResponse)
def check(request: Request, text: Annotated[str, Query(max_length=5000)] = "",
          date: Annotated[str, Query(max_length=40)] = "") -> Response:
    from qinglang.match.dates import parse_date

    results: list[dict[str, Any]] = []
    ctx: dict[str, Any] = {"text": text, "date": date, "asked": bool(text.strip()), "error": ""}
    try:
        posted = parse_date(date.strip() or None)
    except Invalid:
        ctx.update(asked=False, error="date")
        return render(request, "check.html", {**ctx, "results": results}, status=422)
    if text.strip():
        from qinglang.match.store_source import suggest_debunks

        results = suggest_debunks(app_db(request), text, top_k=5, lang=pick_lang(request), date=posted)
    return render(request, "check.html", {**ctx, "results": results})


def _form_ctx(values: dict[str, Any], error: str = "", field: str = "") -> dict[str, Any]:
    return {"categories": CATEGORIES, "values": values, "error": error, "error_field": field,
            "max_images": MAX_IMAGES, "max_image_mb": MAX_IMAGE_MB}


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request, category: Annotated[str, Query(max_length=32)] = "") -> Response:
    return render(request, "report.html", _form_ctx({"category": category}))


@router.post("/report", response_class=HTMLResponse)
async def report_submit(request: Request, category: Annotated[str, Form(max_length=32)] = "",
                        url: Annotated[str, Form(max_length=2000)] = "",
                        text: Annotated[str, Form(max_length=20000)] = "",
                        description: Annotated[str, Form(max_length=5000)] = "",
                        contact: Annotated[str, Form(max_length=300)] = "",
                        images: Annotated[list[UploadFile] | None, File()] = None) -> Response:
    from qinglang.cases.intake import ReportInput, submit_report

    values = {"category": category, "url": url, "text": text, "description": description}
    try:
        files = [f for f in (images or []) if f.filename]
        if len(files) > MAX_IMAGES:
            raise Invalid(f"at most {MAX_IMAGES} images", field="images")
        blobs = []
        for f in files:
            data = await f.read(MAX_IMAGE_BYTES + 1)
            if len(data) > MAX_IMAGE_BYTES:
                raise TooLarge(f"each image must be at most {MAX_IMAGE_MB} MB", field="images")
            blobs.append(data)
        data_in = ReportInput(category=category, url=url.strip() or None, text=text, description=description,
                              contact=contact.strip() or None, images=blobs)
        client = request.client.host if request.client else "unknown"
        result = submit_report(app_db(request), app_settings(request), data_in, client_key=client)
    except (Invalid, TooLarge) as exc:
        return render(request, "report.html", _form_ctx(values, exc.message, exc.field or ""), status=exc.status)
    return redirect(f"/track?receipt={result.receipt}&new=1")


@router.get("/track", response_class=HTMLResponse)
def track(request: Request, receipt: Annotated[str, Query(max_length=64)] = "",
          new: Annotated[int, Query(ge=0, le=1)] = 0) -> Response:
    status: dict[str, Any] | None = None
    missing = False
    if receipt.strip():
        from qinglang.cases.status import report_status

        try:
            with app_db(request).read() as s:
                status = report_status(s, receipt.strip(), lang=pick_lang(request))
        except NotFound:
            missing = True
    return render(request, "track.html", {"receipt": receipt.strip(), "status": status, "missing": missing,
                                          "new": bool(new) and status is not None},
                  status=404 if missing else 200)


@router.get("/appeal", response_class=HTMLResponse)
def appeal_form(request: Request, token: Annotated[str, Query(max_length=200)] = "",
                done: Annotated[int, Query(ge=0, le=1)] = 0) -> Response:
    return render(request, "appeal.html", {"token": token, "done": bool(done), "error": "", "values": {}})


@router.post("/appeal", response_class=HTMLResponse)
def appeal_submit(request: Request, token: Annotated[str, Form(max_length=200)] = "",
                  statement: Annotated[str, Form(max_length=5000)] = "",
                  contact: Annotated[str, Form(max_length=200)] = "") -> Response:
    """The content owner's appeal, with the token from the link the platform passed on."""
    from qinglang.cases import workflow
    from qinglang.errors import Conflict

    try:
        workflow.appeal(app_db(request), app_settings(request), token, statement=statement,
                        contact=contact.strip() or None)
    except (Invalid, NotFound, Conflict) as exc:
        return render(request, "appeal.html", {"token": token, "done": False, "error": exc.message,
                                               "values": {"statement": statement}}, status=exc.status)
    return redirect("/appeal?done=1")
