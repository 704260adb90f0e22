"""Result files: pre-signed and expiring like OSS, real bytes, Range/HEAD, reuse and bounded memory."""

from __future__ import annotations

import hashlib
import io

import httpx
from PIL import Image

from qwentui.core.catalog import Mode, lookup
from qwentui.core.requests import GenerationRequest, build
from qwentui.sim import Simulator
from tests.sim.helpers import result_urls, run_to_end, submit, submit_row

T2I = lookup("wan2.5-t2i-preview", Mode.T2I)


async def finished_url(api: httpx.AsyncClient, sim: Simulator, prompt: str = "files") -> str:
    body = await run_to_end(api, sim, await submit_row(api, T2I, prompt=prompt))
    return result_urls(body["output"])[0]


async def test_download_needs_no_auth_and_hash_is_recorded(api: httpx.AsyncClient, simulator: Simulator) -> None:
    url = await finished_url(api, simulator)
    assert "Expires=" in url and "OSSAccessKeyId=" in url and "Signature=" in url
    resp = await api.get(url)
    assert resp.status_code == 200
    digest = hashlib.sha256(resp.content).hexdigest()
    path = httpx.URL(url).path
    assert simulator.files.sha256[path] == digest == simulator.file_sha256(url)
    assert resp.headers["etag"].strip('"') == digest[:32].upper()


async def test_url_expires_with_403(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.result_url_ttl = 120
    url = await finished_url(api, simulator)
    assert (await api.get(url)).status_code == 200
    simulator.advance(121)
    resp = await api.get(url)
    assert resp.status_code == 403 and resp.headers["content-type"].startswith("application/xml")
    assert "<Code>AccessDenied</Code>" in resp.text and "Request has expired." in resp.text


async def test_signature_and_missing_keys(api: httpx.AsyncClient, simulator: Simulator) -> None:
    url = httpx.URL(await finished_url(api, simulator))
    tampered = url.copy_set_param("Expires", str(int(url.params["Expires"]) + 3600))
    resp = await api.get(tampered)
    assert resp.status_code == 403 and "SignatureDoesNotMatch" in resp.text
    assert (await api.get(url.copy_with(query=None))).status_code == 403
    missing = url.copy_with(path=url.path.replace("/0.png", "/7.png"))
    resp = await api.get(missing)
    assert resp.status_code == 404 and "NoSuchKey" in resp.text


async def test_no_file_before_success(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.pending_seconds = 100
    task_id = await submit_row(api, T2I)
    resp = await api.get(f"/files/{task_id}/0.png")
    assert resp.status_code == 404


async def test_range_and_head(api: httpx.AsyncClient, simulator: Simulator) -> None:
    url = await finished_url(api, simulator)
    full = (await api.get(url)).content
    part = await api.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == full[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(full)}"
    tail = await api.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == full[-10:]
    rest = await api.get(url, headers={"Range": "bytes=100-"})
    assert rest.content == full[100:]
    bad = await api.get(url, headers={"Range": f"bytes={len(full) + 5}-"})
    assert bad.status_code == 416
    head = await api.head(url)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(full)


async def test_same_spec_same_bytes_rendered_once(api: httpx.AsyncClient, simulator: Simulator) -> None:
    wire = build(GenerationRequest(mode=Mode.T2I, model=T2I.model, prompt="same", seed=42))
    bodies = []
    for _ in range(2):
        resp = await submit(api, wire)
        bodies.append(await run_to_end(api, simulator, resp.json()["output"]["task_id"]))
    urls = [result_urls(b["output"])[0] for b in bodies]
    assert urls[0] != urls[1]
    data = [(await api.get(u)).content for u in urls]
    assert data[0] == data[1] and simulator.files.media.renders == 1


async def test_colour_depends_on_the_seed(api: httpx.AsyncClient, simulator: Simulator) -> None:
    pixels = []
    for seed in (1, 2):
        wire = build(GenerationRequest(mode=Mode.T2I, model=T2I.model, prompt="seeded", seed=seed, size="1024*1024"))
        body = await run_to_end(api, simulator, (await submit(api, wire)).json()["output"]["task_id"])
        data = (await api.get(result_urls(body["output"])[0])).content
        with Image.open(io.BytesIO(data)) as img:
            pixels.append(img.convert("RGB").getpixel((2, 2)))
    assert pixels[0] != pixels[1]


async def test_n_images_with_seed_steps(api: httpx.AsyncClient, simulator: Simulator) -> None:
    wire = build(GenerationRequest(mode=Mode.T2I, model=T2I.model, prompt="four", seed=10, n=4))
    body = await run_to_end(api, simulator, (await submit(api, wire)).json()["output"]["task_id"])
    urls = result_urls(body["output"])
    assert len(urls) == 4 and body["usage"]["image_count"] == 4
    task = simulator.tasks()[0]
    assert [simulator.files.spec_for(task, i).seed for i in range(4)] == [10, 11, 12, 13]
    hashes = {hashlib.sha256((await api.get(u)).content).hexdigest() for u in urls}
    assert len(hashes) == 4


async def test_cache_is_bounded_and_evicted_files_come_back_identical(
    api: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.files.media.max_bytes = 1  # keep at most one file
    urls = [await finished_url(api, simulator, prompt=f"bounded {i}") for i in range(3)]
    first = [(await api.get(u)).content for u in urls]
    assert len(simulator.files.media._files) == 1
    again = (await api.get(urls[0])).content
    assert again == first[0] and simulator.files.media.renders == 4
