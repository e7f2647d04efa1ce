"""Public report intake and tracking. No account needed; JSON or multipart/form-data (with images)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from qinglang.api.deps import DB, OptionalPrincipal, Settings
from qinglang.cases import intake
from qinglang.cases.ratelimit import RateLimiter
from qinglang.cases.status import report_status
from qinglang.errors import Invalid, TooLarge
from qinglang.media.load import MAX_BYTES

router = APIRouter(prefix="/v1/reports", tags=["reports"])
MAX_JSON_BODY = 64 * 1024
MAX_MULTIPART_BODY = intake.MAX_IMAGES * MAX_BYTES + 256 * 1024


class ReportIn(BaseModel):
    category: str = Field(max_length=32, description="taxonomy code: rumor, fraud, porn, minors, cybercrime, "
                                                     "gambling, violence, hate, privacy, other")
    url: str | None = Field(None, max_length=2000)
    text: str = Field("", max_length=intake.MAX_TEXT)
    description: str = Field("", max_length=intake.MAX_DESCRIPTION)
    contact: str | None = Field(None, max_length=intake.MAX_CONTACT)
    platform: str | None = Field(None, max_length=200)
    claimed_views: int = Field(0, ge=0, le=10**11)


class ReportAck(BaseModel):
    receipt: str
    status_url: str
    case_id: int | None
    debunk: dict[str, Any] | None
    next_steps: str


def _fields_from_form(form: Any) -> tuple[dict[str, Any], list[bytes]]:
    fields: dict[str, Any] = {}
    images: list[bytes] = []
    for key, value in form.multi_items():
        if hasattr(value, "read"):
            if key not in ("images", "image"):
                raise Invalid(f"unexpected file field {key!r}; send images as 'images'", field=key)
            if getattr(value, "size", 0) and value.size > MAX_BYTES:
                raise TooLarge(f"image is larger than {MAX_BYTES} bytes", field="images")
            images.append(value.file.read(MAX_BYTES + 1))
            if len(images[-1]) > MAX_BYTES:
                raise TooLarge(f"image is larger than {MAX_BYTES} bytes", field="images")
        elif value != "":
            fields[key] = value
    return fields, images


async def parse_report(request: Request) -> tuple[ReportIn, list[bytes]]:
    ctype = request.headers.get("content-type", "")
    declared = int(request.headers.get("content-length") or 0)
    if ctype.startswith("multipart/form-data"):
        if declared > MAX_MULTIPART_BODY:
            raise TooLarge("request body too large (4 images of 10 MB at most)", field="images")
        form = await request.form(max_files=intake.MAX_IMAGES + 1, max_fields=20)
        fields, images = _fields_from_form(form)
    elif ctype.startswith("application/x-www-form-urlencoded"):
        form = await request.form(max_files=0, max_fields=20)
        fields, images = _fields_from_form(form)
    else:
        if declared > MAX_JSON_BODY:
            raise TooLarge("JSON body too large", field="body")
        raw = await request.body()
        if len(raw) > MAX_JSON_BODY:
            raise TooLarge("JSON body too large", field="body")
        try:
            fields = json.loads(raw or b"null")
        except ValueError:
            raise Invalid("body is not valid JSON", field="body") from None
        if not isinstance(fields, dict):
            raise Invalid("body must be a JSON object", field="body")
        images = []
    try:
        return ReportIn.model_validate(fields), images
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err.get("loc", ())) or "body"
        raise Invalid(f"{name}: {err.get('msg', 'invalid')}", field=name) from None


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("", status_code=201, response_model=ReportAck,
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": {
                 "$ref": "#/components/schemas/ReportIn"}}, "multipart/form-data": {"schema": {"type": "object"}}}}})
async def submit(request: Request, db: DB, settings: Settings, principal: OptionalPrincipal) -> JSONResponse:
    limiter: RateLimiter = request.app.state.limiter
    limiter.check("ip:" + client_key(request))
    if principal is not None and principal.token_id is not None:
        limiter.check(f"token:{principal.token_id}")
    body, images = await parse_report(request)
    data = intake.ReportInput(**body.model_dump(), images=images)
    result = await intake.submit_report_async(db, settings, data, client_key=client_key(request),
                                              token=principal if principal and principal.via == "token" else None)
    ack = ReportAck(receipt=result.receipt, status_url=f"/v1/reports/{result.receipt}", case_id=result.case_id,
                    debunk=result.debunk,
                    next_steps="Your report is stored. It is checked against published debunks, grouped with reports "
                               "of the same content, and sent to the organisation responsible, which must decide "
                               "within its deadline. Track it with your receipt.")
    return JSONResponse(ack.model_dump(), status_code=201)


@router.get("/{receipt}")
def track(receipt: Annotated[str, Field(max_length=32)], db: DB, lang: str = "en") -> dict[str, Any]:
    if len(receipt) > 32:
        raise Invalid("receipt is too long", field="receipt")
    with db.read() as s:
        return report_status(s, receipt, lang="zh" if lang == "zh" else "en")
