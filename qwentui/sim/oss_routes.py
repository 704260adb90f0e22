"""The OSS side: getPolicy (an API route), the upload host's form POST, and result file downloads."""

from __future__ import annotations

import anyio.to_thread
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from qwentui.core.catalog import models
from qwentui.sim.errors import MSG_EMPTY_MODEL, ApiError, OssError, json_response, oss_error_response
from qwentui.sim.gate import base_url, sim_of
from qwentui.sim.simulator import Simulator
from qwentui.sim.uploads import UPLOAD_PATH


async def get_policy(request: Request, sim: Simulator, request_id: str, key: str) -> Response:
    if request.query_params.get("action") != "getPolicy":
        raise ApiError.invalid("action must be getPolicy.")
    model = request.query_params.get("model", "")
    if not model:
        raise ApiError(400, "BadRequest.EmptyModel", MSG_EMPTY_MODEL)
    if model not in models():
        raise ApiError(404, "ModelNotFound", f"Model not found ({model}).")
    host = base_url(request, sim.config) + UPLOAD_PATH
    data = sim.uploads.issue(model, key, sim.now(), host, sim.new_id())
    return json_response({"data": data, "request_id": request_id}, request_id)


async def oss_upload(request: Request) -> Response:
    """The upload host: an OSS PostObject form (no auth; the signed policy is the credential)."""
    sim = sim_of(request)
    request_id = sim.new_id().replace("-", "").upper()[:24]
    try:
        form = await request.form(max_files=4, max_fields=64)
    except Exception:  # python-multipart raises several types for a malformed body
        err = OssError(
            400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data."
        )
        return oss_error_response(err, request_id)
    try:
        fields: dict[str, str] = {}
        file: UploadFile | None = None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name == "file":
                    file = value
                    break  # like OSS: whatever follows the file is not read
            else:
                fields[name] = value
        if file is None:
            raise OssError(400, "InvalidArgument", "The form field 'file' is missing (it must come last).")
        data = await file.read()
        upload = sim.uploads.store(fields, data, file.filename or "", file.content_type or "", sim.now())
    except OssError as err:
        return oss_error_response(err, request_id)
    finally:
        await form.close()  # spooled temporary files
    status = fields.get("success_action_status", "")
    headers = {"x-oss-request-id": request_id, "ETag": f'"{upload.sha256[:32].upper()}"'}
    if status == "200":
        return Response(b"", status_code=200, headers=headers)
    if status == "201":
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Bucket>dashscope-file-mgr</Bucket>'
            f"<Key>{upload.key}</Key><ETag>{headers['ETag']}</ETag></PostResponse>"
        )
        return Response(xml, status_code=201, headers=headers, media_type="application/xml")
    return Response(b"", status_code=204, headers=headers)


# ---- result files -----------------------------------------------------------------------------------------


async def get_file(request: Request) -> Response:
    sim = sim_of(request)
    request_id = sim.new_id().replace("-", "").upper()[:24]
    try:
        ref = sim.files.resolve(request.url.path, request.query_params, sim.now())
    except OssError as err:
        return oss_error_response(err, request_id)
    data = await anyio.to_thread.run_sync(sim.files.data, ref)  # rendering a video takes a moment
    response = sim.files.response(ref, data, request.method, request.headers.get("range"))
    response.headers["x-oss-request-id"] = request_id
    return response
