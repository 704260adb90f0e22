"""Temporary uploads: getPolicy, the OSS form POST to the simulator, and oss:// used in a request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from qwentui.core.catalog import Mode, lookup
from qwentui.core.requests import GenerationRequest, build
from qwentui.sim import Simulator
from tests.sim.helpers import API, AUTH, result_urls, run_to_end, submit

I2V = lookup("wan2.6-i2v-flash", Mode.I2V)
PNG = b"\x89PNG\r\n\x1a\n" + b"fake image bytes" * 10


async def get_policy(api: httpx.AsyncClient, model: str = I2V.model) -> dict[str, Any]:
    resp = await api.get(f"{API}/uploads", params={"action": "getPolicy", "model": model}, headers=AUTH)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


def form_fields(policy: dict[str, Any], name: str = "cat.png") -> dict[str, str]:
    return {
        "OSSAccessKeyId": policy["oss_access_key_id"],
        "Signature": policy["signature"],
        "policy": policy["policy"],
        "x-oss-object-acl": policy["x_oss_object_acl"],
        "x-oss-forbid-overwrite": policy["x_oss_forbid_overwrite"],
        "key": f"{policy['upload_dir']}/{name}",
        "success_action_status": "200",
    }


async def upload(
    api: httpx.AsyncClient, policy: dict[str, Any], fields: dict[str, str], data: bytes = PNG
) -> httpx.Response:
    # httpx writes the data fields first and the file last, as OSS requires.
    return await api.post(policy["upload_host"], data=fields, files={"file": ("cat.png", data, "image/png")})


async def test_upload_then_use_as_oss(api: httpx.AsyncClient, simulator: Simulator) -> None:
    policy = await get_policy(api)
    assert policy["upload_host"] == "http://sim.test/oss" and policy["upload_dir"].startswith("dashscope-instant/")
    assert policy["expire_in_seconds"] == 300 and policy["max_file_size_mb"] > 0
    fields = form_fields(policy)
    resp = await upload(api, policy, fields)
    assert resp.status_code == 200 and resp.content == b""
    url = f"oss://{fields['key']}"
    stored = simulator.uploads.get(url)
    assert stored is not None and stored.data == PNG and stored.content_type == "image/png"
    wire = build(GenerationRequest(mode=Mode.I2V, model=I2V.model, prompt="move", images=[url]))
    assert wire.needs_oss_resolve
    created = await submit(api, wire)  # helpers add X-DashScope-OssResourceResolve: enable
    assert created.status_code == 200, created.text
    assert simulator.submissions[-1].headers["x-dashscope-ossresourceresolve"] == "enable"
    body = await run_to_end(api, simulator, created.json()["output"]["task_id"])
    assert (await api.get(result_urls(body["output"])[0])).status_code == 200


async def test_oss_key_is_only_for_its_model(api: httpx.AsyncClient) -> None:
    policy = await get_policy(api, model="wan2.6-i2v")
    fields = form_fields(policy)
    assert (await upload(api, policy, fields)).status_code == 200
    wire = build(GenerationRequest(mode=Mode.I2V, model=I2V.model, prompt="x", images=[f"oss://{fields['key']}"]))
    resp = await submit(api, wire)
    assert resp.status_code == 400 and "wan2.6-i2v" in resp.json()["message"]


async def test_oss_key_expires_after_48_hours(api: httpx.AsyncClient, simulator: Simulator) -> None:
    policy = await get_policy(api)
    fields = form_fields(policy)
    assert (await upload(api, policy, fields)).status_code == 200
    simulator.advance(48 * 3600 + 1)
    wire = build(GenerationRequest(mode=Mode.I2V, model=I2V.model, prompt="x", images=[f"oss://{fields['key']}"]))
    resp = await submit(api, wire)
    assert resp.status_code == 400 and "expired" in resp.json()["message"]


async def test_success_status_defaults_to_204(api: httpx.AsyncClient) -> None:
    policy = await get_policy(api)
    fields = form_fields(policy)
    del fields["success_action_status"]
    assert (await upload(api, policy, fields)).status_code == 204


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"Signature": "AAAA"}, 403, "SignatureDoesNotMatch"),
        ({"OSSAccessKeyId": "other"}, 403, "InvalidAccessKeyId"),
        ({"key": "elsewhere/cat.png"}, 403, "AccessDenied"),
        ({"policy": ""}, 400, "InvalidArgument"),
    ],
)
async def test_bad_forms(api: httpx.AsyncClient, change: dict[str, str], status: int, code: str) -> None:
    policy = await get_policy(api)
    resp = await upload(api, policy, {**form_fields(policy), **change})
    assert resp.status_code == status and f"<Code>{code}</Code>" in resp.text
    assert resp.headers["content-type"].startswith("application/xml")


async def test_policy_expires(api: httpx.AsyncClient, simulator: Simulator) -> None:
    policy = await get_policy(api)
    simulator.advance(301)
    resp = await upload(api, policy, form_fields(policy))
    assert resp.status_code == 403 and "Policy expired" in resp.text


async def test_no_overwrite(api: httpx.AsyncClient) -> None:
    policy = await get_policy(api)
    fields = form_fields(policy)
    assert (await upload(api, policy, fields)).status_code == 200
    resp = await upload(api, policy, fields)
    assert resp.status_code == 409 and "FileAlreadyExists" in resp.text


async def test_fields_after_the_file_are_ignored(api: httpx.AsyncClient) -> None:
    policy = await get_policy(api)
    fields = form_fields(policy)
    key = fields.pop("key")
    boundary = "sim-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cat.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + PNG
        + b"\r\n"
    )
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n{key}\r\n'.encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    resp = await api.post(
        policy["upload_host"], content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert resp.status_code == 400 and "'key'" in resp.text


async def test_no_file(api: httpx.AsyncClient) -> None:
    policy = await get_policy(api)
    resp = await api.post(policy["upload_host"], data=form_fields(policy), files={"other": ("a", b"x")})
    assert resp.status_code == 400 and "file" in resp.text


async def test_get_policy_errors(api: httpx.AsyncClient) -> None:
    resp = await api.get(f"{API}/uploads", params={"action": "getPolicy", "model": I2V.model})
    assert resp.status_code == 401
    resp = await api.get(f"{API}/uploads", params={"action": "other", "model": I2V.model}, headers=AUTH)
    assert resp.status_code == 400 and resp.json()["code"] == "InvalidParameter"
    resp = await api.get(f"{API}/uploads", params={"action": "getPolicy", "model": "nope"}, headers=AUTH)
    assert resp.status_code == 404 and resp.json()["code"] == "ModelNotFound"
    resp = await api.get(f"{API}/uploads", params={"action": "getPolicy"}, headers=AUTH)
    assert resp.status_code == 400 and resp.json()["code"] == "BadRequest.EmptyModel"


async def test_uploaded_bytes_are_bounded(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.upload_keep_bytes = len(PNG) * 2
    keys = []
    for i in range(4):
        policy = await get_policy(api)
        fields = form_fields(policy, name=f"{i}.png")
        assert (await upload(api, policy, fields)).status_code == 200
        keys.append(fields["key"])
    kept = [simulator.uploads.get(k).data is not None for k in keys]  # type: ignore[union-attr]
    assert kept == [False, False, True, True]
    wire = build(GenerationRequest(mode=Mode.I2V, model=I2V.model, prompt="x", images=[f"oss://{keys[0]}"]))
    assert (await submit(api, wire)).status_code == 200  # evicted bytes, but the key still resolves


async def test_success_status_201_and_malformed_forms(api: httpx.AsyncClient) -> None:
    policy = await get_policy(api)
    fields = {**form_fields(policy), "success_action_status": "201"}
    resp = await upload(api, policy, fields)
    assert resp.status_code == 201 and f"<Key>{fields['key']}</Key>" in resp.text
    bad = await api.post(
        policy["upload_host"], content=b"--x\r\nnot a form", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert bad.status_code == 400 and "<Code>" in bad.text
