"""Outputs that remember: the request written into real PNG, JPEG, WebP and MP4 files and read back, the pixels
and packets untouched, clear errors for foreign and damaged files, and the engine tagging what it downloads."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import av
import pytest
from PIL import Image

from qwentui.core import provenance
from qwentui.core.catalog import Mode
from qwentui.core.download import DownloadedFile
from qwentui.core.engine import Engine
from qwentui.core.provenance import PNG_SIGNATURE, Provenance, ProvenanceError
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.sim.media import MediaSpec, render
from tests.helpers import SimHarness

REQUEST = GenerationRequest(
    mode=Mode.T2I,
    model="wan2.6-t2i",
    prompt='a <fox> & "hare" in snow — ünïcödé, 雪',
    negative_prompt="blurry, </qwentui:record>",
    size="1280*1280",
    n=2,
    seed=1234,
)


def record(request: GenerationRequest = REQUEST, index: int = 1) -> Provenance:
    return Provenance(
        job_id=42,
        index=index,
        mode=request.mode.value,
        model=request.model_name,
        prompt=request.prompt,
        request=request.to_dict(),
        negative_prompt=request.negative_prompt,
        size=request.size,
        seed=request.seed,
        seed_source="request",
        task_id="0385dc79-5ff8-4d82-bcb6-xxxxxx",
        source_sha256="0" * 64,
        source_size=99,
        created_at=1764600000.0,
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(path: Path) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(path) as img:
        img.load()
        return img.mode, img.size, img.tobytes()


def packets(path: Path) -> list[tuple[str, int | None, bytes]]:
    with av.open(str(path)) as container:
        return [(p.stream.type, p.pts, bytes(p)) for p in container.demux() if p.dts is not None]


def make_png(path: Path) -> Path:
    path.write_bytes(render(MediaSpec("png", 96, 64, "a fox", 7)))
    return path


def make_jpeg(path: Path, **save: object) -> Path:
    Image.new("RGB", (48, 32), (200, 40, 10)).save(path, "JPEG", quality=90, **save)
    return path


def make_webp(path: Path, mode: str = "RGB", **save: object) -> Path:
    Image.new(mode, (40, 30), (10, 120, 200, 128)[: len(mode)]).save(path, "WEBP", **save)
    return path


def make_mp4(path: Path) -> Path:
    path.write_bytes(render(MediaSpec("mp4", 64, 48, "a boat", 3, duration=2, audio=True)))
    return path


MAKERS = {
    "png": lambda d: make_png(d / "out.png"),
    "jpeg": lambda d: make_jpeg(d / "out.jpg"),
    "jpeg-exif": lambda d: make_jpeg(d / "out.jpg", exif=Image.Exif()),
    "webp-lossy": lambda d: make_webp(d / "out.webp", quality=80),
    "webp-lossless-alpha": lambda d: make_webp(d / "out.webp", "RGBA", lossless=True),
    "webp-extended": lambda d: make_webp(d / "out.webp", "RGBA", quality=80, exif=b"Exif\x00\x00MM\x00*"),
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_image_round_trip_keeps_the_pixels(tmp_path: Path, kind: str) -> None:
    path = MAKERS[kind](tmp_path)
    before = pixels(path)
    tagged = provenance.write(path, record())
    assert provenance.read(path) == record()
    assert provenance.read(path).to_request() == REQUEST
    assert pixels(path) == before  # spliced in, never re-encoded
    assert (tagged.size, tagged.sha256) == (path.stat().st_size, sha(path))
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_other_readers_see_the_record(tmp_path: Path, kind: str) -> None:
    path = MAKERS[kind](tmp_path)
    provenance.write(path, record())
    with Image.open(path) as img:
        img.load()
        text = img.info["qwentui"] if img.format == "PNG" else img.info["xmp"]
    if isinstance(text, bytes):
        text = text.decode()
    assert "1234" in text and "wan2.6-t2i" in text
    if img.format != "PNG":  # XMP: the prompt as dc:description, escaped
        assert "a &lt;fox&gt; &amp;" in text


def test_tagging_again_replaces_the_record(tmp_path: Path) -> None:
    for kind in ("png", "jpeg", "webp-lossy"):
        (tmp_path / kind).mkdir()
        path = MAKERS[kind](tmp_path / kind)
        provenance.write(path, record(index=1))
        once = path.stat().st_size
        provenance.write(path, record(index=2))
        assert provenance.read(path).index == 2
        assert path.stat().st_size == once  # one record, not two
        assert path.read_bytes().count(b'"index": ') == 1


def test_a_foreign_xmp_packet_is_kept(tmp_path: Path) -> None:
    foreign = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:aigc="urn:x"><aigc:Label>AI generated</aigc:Label></rdf:Description>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    path = make_jpeg(tmp_path / "out.jpg", xmp=foreign)
    provenance.write(path, record())
    provenance.write(path, record(index=3))
    with Image.open(path) as img:
        xmp = img.info["xmp"]
    assert b"<aigc:Label>AI generated</aigc:Label>" in xmp
    assert provenance.read(path).index == 3
    assert xmp.count(b"<qwentui:record>") == 1


def test_mp4_round_trip_copies_the_streams(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "out.mp4")
    before = packets(path)
    tagged = provenance.write(path, record())
    assert provenance.read(path) == record()
    assert provenance.read(path).to_request() == REQUEST
    assert packets(path) == before  # a remux: every packet as it was, nothing re-encoded
    assert {kind for kind, _, _ in before} == {"video", "audio"}
    with av.open(str(path)) as container:
        assert container.metadata["description"] == REQUEST.prompt
    assert (tagged.size, tagged.sha256) == (path.stat().st_size, sha(path))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    provenance.write(path, record(index=2))
    assert provenance.read(path).index == 2


def test_sidecar_round_trip(tmp_path: Path) -> None:
    path = make_png(tmp_path / "out.png")
    side = provenance.write_sidecar(path, record())
    assert side == tmp_path / "out.png.json"
    assert provenance.read(side) == record()
    assert json.loads(side.read_text())["request"] == REQUEST.to_dict()


def test_a_record_from_a_newer_qwentui_keeps_its_extra_fields(tmp_path: Path) -> None:
    data = record().to_dict() | {"qwentui": 2, "lora": "x"}
    side = tmp_path / "x.png.json"
    side.write_text(json.dumps(data))
    got = provenance.read(side)
    assert got.extra == {"lora": "x"} and got.to_request() == REQUEST


# ---------------------------------------------------------------- clear errors


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def split_png(data: bytes) -> list[bytes]:
    """The chunks of a PNG, each as its raw bytes."""
    out, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append(data[pos : pos + 12 + length])
        pos += 12 + length
    return out


def error_of(path: Path) -> str:
    with pytest.raises(ProvenanceError) as caught:
        provenance.read(path)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("kind", ["png", "jpeg", "webp-lossy"])
def test_a_foreign_image_says_it_carries_no_record(tmp_path: Path, kind: str) -> None:
    path = MAKERS[kind](tmp_path)
    assert "carries no qwentui record" in error_of(path)


def test_a_foreign_video_says_it_carries_no_record(tmp_path: Path) -> None:
    assert "carries no qwentui record" in error_of(make_mp4(tmp_path / "x.mp4"))


def test_other_files_are_refused_clearly(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "is not a PNG, JPEG, WebP, MP4 or .json sidecar" in error_of(text)
    assert "cannot read" in error_of(tmp_path / "missing.png")
    bad_json = tmp_path / "x.png.json"
    bad_json.write_text("{not json")
    assert "not a qwentui sidecar" in error_of(bad_json)
    other_json = tmp_path / "y.png.json"
    other_json.write_text('{"prompt": "a cat"}')
    assert "not a qwentui record" in error_of(other_json)
    with pytest.raises(ProvenanceError, match="only into PNG, JPEG, WebP and MP4"):
        provenance.write(text, record())
    assert text.read_text() == "hello"


def test_damaged_files_are_refused_clearly(tmp_path: Path) -> None:
    png = make_png(tmp_path / "a.png")
    provenance.write(png, record())
    data = png.read_bytes()
    (cut := tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert "damaged" in error_of(cut)
    flipped = bytearray(data)
    flipped[40] ^= 0xFF  # inside IHDR: its checksum no longer holds
    (crc := tmp_path / "crc.png").write_bytes(bytes(flipped))
    assert "checksum" in error_of(crc)

    # a record whose text is not JSON any more, in a chunk that is itself sound
    chunks = split_png(make_png(tmp_path / "b.png").read_bytes())
    bad = png_chunk(b"iTXt", b"qwentui\x00\x00\x00\x00\x00" + b'{"qwentui": 1, "job_id": ')
    broken = tmp_path / "broken.png"
    broken.write_bytes(PNG_SIGNATURE + b"".join(chunks[:-1]) + bad + chunks[-1])
    assert "damaged (not valid JSON)" in error_of(broken)

    jpeg = make_jpeg(tmp_path / "a.jpg")
    (cut_jpeg := tmp_path / "cut.jpg").write_bytes(jpeg.read_bytes()[:30])
    assert "damaged" in error_of(cut_jpeg)
    webp = make_webp(tmp_path / "a.webp")
    (cut_webp := tmp_path / "cut.webp").write_bytes(webp.read_bytes()[:20])
    assert "damaged" in error_of(cut_webp)
    mp4 = make_mp4(tmp_path / "a.mp4")
    (cut_mp4 := tmp_path / "cut.mp4").write_bytes(mp4.read_bytes()[:200])
    assert "damaged" in error_of(cut_mp4)
    with pytest.raises(ProvenanceError, match="damaged"):
        provenance.write(cut_mp4, record())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# ---------------------------------------------------------------- settings and seeds


def test_sidecar_setting(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    assert provenance.sidecar_setting(settings) == "drop"  # no file
    for text, want in [
        ('[outputs]\nsidecar = "always"\n', "always"),
        ('[outputs]\nsidecar = "off"\n', "off"),
        ("[outputs]\nsidecar = true\n", "always"),
        ('[outputs]\nsidecar = "sometimes"\n', "drop"),
        ("[tui]\n", "drop"),
    ]:
        settings.write_text(text)
        assert provenance.sidecar_setting(settings) == want, text
    assert provenance.wants_sidecar("drop", "drop:portraits")
    assert not provenance.wants_sidecar("drop", "cli") and not provenance.wants_sidecar("drop", "tui")
    assert provenance.wants_sidecar("always", "tui") and not provenance.wants_sidecar("off", "drop:x")


async def test_the_seed_comes_from_the_request_else_from_the_service(store: Store) -> None:
    with_seed = await store.add_job(REQUEST.to_dict(), source="cli")
    assert provenance.seed_of(with_seed) == (1234, "request")
    unseeded = GenerationRequest(mode=Mode.T2I, prompt="x").to_dict()
    job = await store.add_job(unseeded, source="cli")
    assert provenance.seed_of(job) == (None, None)  # the documented answers carry no seed
    job = await store.update_fields(job.id, usage_json=json.dumps({"image_count": 1, "seed": 99}))
    assert provenance.seed_of(job) == (99, "service")
    assert provenance.record_for(job, 1).seed == 99


async def test_a_file_that_cannot_be_tagged_is_kept_and_the_history_says_why(store: Store, tmp_path: Path) -> None:
    job = await store.add_job(REQUEST.to_dict(), source="cli")
    path = tmp_path / f"{job.id}_1.png"
    path.write_bytes(b"<html>not an image</html>")
    got = DownloadedFile(path, path.stat().st_size, sha(path), "image/png")
    saved = await provenance.remember(store, job, 1, got)
    assert (saved.size, saved.sha256) == (got.size, got.sha256)
    assert path.read_bytes() == b"<html>not an image</html>"
    events = await store.events(job.id)
    assert "saved without its request" in (events[-1].detail or "")


# ---------------------------------------------------------------- end to end


async def test_the_engine_tags_what_it_downloads(engine: Engine, store: Store, sim: SimHarness) -> None:
    image = await engine.add(REQUEST, source="cli")
    video = await engine.add(GenerationRequest(mode=Mode.T2V, prompt="a paper boat", seed=5), source="tui")
    done = await engine.wait_for([image.id, video.id], timeout=60)
    assert [j.state for j in done] == [JobState.DONE, JobState.DONE], [j.error_message for j in done]
    for job in done:
        assets = await store.assets(job.id)
        assert len(assets) == (2 if job.id == image.id else 1)
        for asset in assets:
            path = Path(asset.path or "")
            got = provenance.read(path)
            assert got.to_request() == GenerationRequest.from_dict(job.request)
            assert (got.job_id, got.index, got.task_id) == (job.id, asset.idx, job.task_id)
            assert got.seed == job.request["seed"] and got.seed_source == "request"
            # the asset records the file on disk, the record the bytes as served
            assert asset.sha256 == sha(path) and asset.size == path.stat().st_size
            assert got.source_sha256 == sim.sim.file_sha256(asset.url or "")
            assert not provenance.sidecar_path(path).exists()  # off for the command line and the TUI
    assert provenance.sniff(Path((await store.assets(video.id))[0].path or "")) == "mp4"


async def test_drop_folder_jobs_get_a_sidecar(engine: Engine, store: Store) -> None:
    job = await engine.add(REQUEST, source="drop:portraits")
    (job,) = await engine.wait_for([job.id], timeout=60)
    assert job.state is JobState.DONE, job.error_message
    for asset in await store.assets(job.id):
        side = provenance.sidecar_path(Path(asset.path or ""))
        assert provenance.read(side) == provenance.read(Path(asset.path or ""))


def test_a_quicktime_file_stays_quicktime(tmp_path: Path) -> None:
    mp4 = make_mp4(tmp_path / "in.mp4")
    mov = tmp_path / "out.mov"
    with av.open(str(mp4)) as src, av.open(str(mov), "w", format="mov") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    before = packets(mov)
    provenance.write(mov, record())
    assert mov.read_bytes()[4:12] == b"ftypqt  " and packets(mov) == before
    assert provenance.read(mov) == record()
