"""Outputs that remember: the request that made a file, written into the file itself (and optionally beside it).

PNG gets an iTXt chunk (keyword `qwentui`), JPEG an APP1 XMP segment, WebP an `XMP ` RIFF chunk (with the
VP8X header that an extended file needs), MP4 a container tag (`comment`; the prompt in `description`). The
pixels are never re-encoded: image chunks and segments are spliced into the served bytes, and videos are
remuxed with their streams copied packet by packet. The record is JSON (`Provenance.to_json`); a sidecar
`<file>.json` holds the same JSON.

Every write goes to a temporary file beside the target, fsynced, then renamed over it, so a crash leaves
either the served file or the tagged one, never half of either. `write` returns the tagged file's size and
sha256: the asset row records those (what is on disk), and the record keeps the served bytes' size and
sha256 (`source_size`, `source_sha256`), so both are known.

`read` takes an output or its sidecar and raises `ProvenanceError` (one line that says what to do) for a
file qwentui did not tag, a format it does not know, or a damaged file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import struct
import tomllib
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape, unescape

from qwentui.core.download import DownloadedFile
from qwentui.core.errors import QwentuiError
from qwentui.core.requests import GenerationRequest, InvalidRequest
from qwentui.core.store import Job, Store

log = logging.getLogger(__name__)

FORMAT = 1  # the record's version: a newer qwentui may add fields, an older one ignores them
KEYWORD = "qwentui"  # PNG iTXt keyword; the record's marker key in JSON
SIDECAR_SUFFIX = ".json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_NS = "https://qwentui.invalid/ns/provenance/1.0/"  # a name, not a place: nothing is fetched from it
JPEG_SEGMENT_MAX = 65533  # the length field counts itself: 65535 - 2
_MP4_SKIP = frozenset({"comment", "description", "major_brand", "minor_version", "compatible_brands"})
_RECORD = re.compile(r"<qwentui:record>(.*?)</qwentui:record>", re.DOTALL)
_OUR_DESCRIPTION = re.compile(r"<rdf:Description[^>]*xmlns:qwentui=[^>]*>.*?</rdf:Description>", re.DOTALL)

Sidecars = Literal["off", "drop", "always"]
SIDECAR_CHOICES: tuple[Sidecars, ...] = ("off", "drop", "always")


class ProvenanceError(QwentuiError):
    """A file whose record cannot be written or read: the message names the file and says why."""


@dataclass(frozen=True)
class Provenance:
    """What made one output file. `request` is the job's whole request (`GenerationRequest.to_dict()`)."""

    job_id: int
    index: int  # the result's 1-based position in the job (the `<n>` of `<job>_<n>.<ext>`)
    mode: str
    model: str
    prompt: str
    request: dict[str, Any]
    negative_prompt: str | None = None
    size: str | None = None
    seed: int | None = None  # the seed sent, else one the service reported; None: the service chose it, unsaid
    seed_source: Literal["request", "service"] | None = None
    task_id: str | None = None
    source_sha256: str | None = None  # the bytes as served, before tagging
    source_size: int | None = None
    created_at: float | None = None  # when the job was made (Unix time)
    extra: dict[str, Any] = field(default_factory=dict)  # fields of a newer format, kept when read

    def to_request(self) -> GenerationRequest:
        """The request again, equal to the one the job was made from."""
        try:
            return GenerationRequest.from_dict(self.request)
        except InvalidRequest as exc:
            raise ProvenanceError(f"the recorded request no longer validates: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {KEYWORD: FORMAT, **extra, **data}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, indent=indent)

    @classmethod
    def from_dict(cls, data: Any, where: str = "the record") -> Provenance:
        if not isinstance(data, Mapping) or not isinstance(data.get(KEYWORD), int):
            raise ProvenanceError(f"{where} is not a qwentui record")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known and k != KEYWORD}
        try:
            record = cls(**values, extra=extra)
        except TypeError as exc:  # a required field missing
            raise ProvenanceError(f"{where} is incomplete ({exc})") from None
        if not isinstance(record.request, dict) or not isinstance(record.job_id, int):
            raise ProvenanceError(f"{where} is damaged: its request or job id is not what qwentui writes")
        return record


@dataclass(frozen=True)
class Tagged:
    """The file on disk after tagging."""

    path: Path
    size: int
    sha256: str


def record_for(
    job: Job,
    index: int,
    *,
    source_sha256: str | None = None,
    source_size: int | None = None,
) -> Provenance:
    """The record of result `index` of `job` (a store `Job`)."""
    request: dict[str, Any] = dict(job.request)
    seed, seed_source = _seed(request, job.usage)
    return Provenance(
        job_id=int(job.id),
        index=index,
        mode=str(job.mode),
        model=str(job.model),
        prompt=str(job.prompt),
        request=request,
        negative_prompt=request.get("negative_prompt"),
        size=request.get("size") or request.get("resolution"),
        seed=seed,
        seed_source=seed_source,
        task_id=job.task_id,
        source_sha256=source_sha256,
        source_size=source_size,
        created_at=job.created_at,
    )


def seed_of(job: Job) -> tuple[int | None, Literal["request", "service"] | None]:
    """The seed a job's files were made with, and who chose it; (None, None) when the service chose it and
    did not say (the documented answers carry no seed: then only a request with a seed can be made again)."""
    return _seed(job.request, job.usage)


def _seed(request: Mapping[str, Any], usage: Any) -> tuple[int | None, Literal["request", "service"] | None]:
    if _is_int(request.get("seed")):
        return request["seed"], "request"
    # The documented answers carry no seed; a service that does say which one it drew is believed.
    if isinstance(usage, Mapping) and _is_int(usage.get("seed")):
        return usage["seed"], "service"
    return None, None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- the public calls


async def remember(store: Store, job: Job, index: int, got: DownloadedFile, *, sidecars: Sidecars = "drop") -> Tagged:
    """The fetcher's step after a verified download: tag the file (and write its sidecar if the setting says
    so). A file that cannot be tagged is kept as served and the job's history says why; the download stands."""
    record = record_for(job, index, source_sha256=got.sha256, source_size=got.size)
    try:
        tagged = await asyncio.to_thread(write, got.path, record)
        if wants_sidecar(sidecars, job.source):
            await asyncio.to_thread(write_sidecar, got.path, record)
    except (ProvenanceError, OSError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.warning("job %s: %s saved without its request: %s", job.id, got.path.name, why)
        await store.note(job.id, f"{got.path.name} saved without its request in the file: {why}")
        return Tagged(got.path, got.size, got.sha256)
    return tagged


def write(path: Path, record: Provenance) -> Tagged:
    """Put `record` into `path` (PNG, JPEG, WebP, MP4), atomically. Raises ProvenanceError for a format
    qwentui cannot tag (the file is then left as it was)."""
    kind = sniff(path)
    if kind == "mp4":
        return _write_mp4(path, record)
    data = _read_bytes(path)
    if kind == "png":
        tagged = _png_with(data, record, path)
    elif kind == "jpeg":
        tagged = _jpeg_with(data, record, path)
    elif kind == "webp":
        tagged = _webp_with(data, record, path)
    else:
        raise ProvenanceError(f"{path.name}: qwentui writes its record only into PNG, JPEG, WebP and MP4 files")
    return _replace(path, tagged)


def read(path: Path) -> Provenance:
    """The record in a qwentui output, or in its `.json` sidecar. Raises ProvenanceError."""
    if path.suffix.lower() == SIDECAR_SUFFIX:
        return _read_sidecar(path)
    kind = sniff(path)
    where = path.name
    if kind == "mp4":
        text = _mp4_record_text(path)
    elif kind == "png":
        text = _png_record_text(_read_bytes(path), where)
    elif kind == "jpeg":
        text = _xmp_record_text(_jpeg_xmp(_read_bytes(path), where))
    elif kind == "webp":
        text = _xmp_record_text(_webp_chunks(_read_bytes(path), where).get(b"XMP "))
    else:
        raise ProvenanceError(f"{where} is not a PNG, JPEG, WebP, MP4 or .json sidecar: no qwentui record")
    if text is None:
        raise ProvenanceError(
            f"{where} carries no qwentui record (made elsewhere, or its metadata was stripped; "
            f"its {SIDECAR_SUFFIX} sidecar would do)"
        )
    return _parse(text, where)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_sidecar(path: Path, record: Provenance) -> Path:
    """`<path>.json` with the record, atomically."""
    dest = sidecar_path(path)
    _replace(dest, (record.to_json(indent=2) + "\n").encode())
    return dest


def wants_sidecar(policy: Sidecars, source: str) -> bool:
    """Whether a job from `source` ('tui', 'cli', 'drop:<rule>', ...) gets a sidecar under `policy`."""
    return policy == "always" or (policy == "drop" and source.startswith("drop:"))


def sidecar_setting(settings: Path | None) -> Sidecars:
    """`[outputs] sidecar = "off" | "drop" | "always"` from the settings file; default "drop": the drop
    folder's jobs get a sidecar, the TUI's and the command line's do not (their files carry the record)."""
    if settings is None or not settings.is_file():
        return "drop"
    try:
        data = tomllib.loads(settings.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return "drop"  # the settings' own loaders report a broken file
    outputs = data.get("outputs")
    value = outputs.get("sidecar", "drop") if isinstance(outputs, dict) else "drop"
    value = {True: "always", False: "off"}.get(value, value) if isinstance(value, bool) else value
    if value not in SIDECAR_CHOICES:
        log.warning("%s: [outputs] sidecar = %r is not one of off, drop, always; using drop", settings, value)
        return "drop"
    return value


def sniff(path: Path) -> Literal["png", "jpeg", "webp", "mp4"] | None:
    """The file's format from its first bytes (never from its name)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise ProvenanceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "mp4"
    return None


# ---------------------------------------------------------------- JSON


def _parse(text: str, where: str) -> Provenance:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ProvenanceError(f"{where}: its qwentui record is damaged (not valid JSON)") from None
    return Provenance.from_dict(data, f"the record in {where}")


def _read_sidecar(path: Path) -> Provenance:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProvenanceError(f"{path.name} is not a qwentui sidecar (not UTF-8 text)") from None
    except OSError as exc:
        raise ProvenanceError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProvenanceError(f"{path.name} is not a qwentui sidecar: {exc.msg} at line {exc.lineno}") from None
    return Provenance.from_dict(data, path.name)


# ---------------------------------------------------------------- PNG


def _png_chunks(data: bytes, where: str) -> list[tuple[bytes, bytes]]:
    """[(type, data)] of a PNG, CRCs checked; ProvenanceError for a damaged file."""
    if not data.startswith(PNG_SIGNATURE):
        raise ProvenanceError(f"{where} is not a PNG file")
    chunks: list[tuple[bytes, bytes]] = []
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise ProvenanceError(f"{where} is damaged: the PNG ends in the middle of a chunk")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ProvenanceError(f"{where} is damaged: the PNG is cut short")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise ProvenanceError(f"{where} is damaged: a PNG chunk fails its checksum")
        chunks.append((kind, body))
        pos = end
        if kind == b"IEND":
            break
    if not chunks or chunks[-1][0] != b"IEND":
        raise ProvenanceError(f"{where} is damaged: the PNG has no end")
    return chunks


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _itxt(keyword: str, text: str) -> bytes:
    # keyword, NUL, not compressed, method 0, empty language tag, NUL, empty translated keyword, NUL, UTF-8 text
    return keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")


def _itxt_text(body: bytes) -> tuple[str, str] | None:
    keyword, sep, rest = body.partition(b"\x00")
    if not sep or len(rest) < 2:
        return None
    compressed, rest = rest[0], rest[2:]
    _lang, _, rest = rest.partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    try:
        raw = zlib.decompress(text) if compressed else text
        return keyword.decode("latin-1"), raw.decode("utf-8")
    except (zlib.error, UnicodeDecodeError):
        return None


def _png_with(data: bytes, record: Provenance, path: Path) -> bytes:
    chunks = [(k, b) for k, b in _png_chunks(data, path.name) if not _is_ours_png(k, b)]
    ours = _png_chunk(b"iTXt", _itxt(KEYWORD, record.to_json()))
    # Before IEND (after the image data): readers that stop at IDAT still see the pixels unchanged.
    out = bytearray(PNG_SIGNATURE)
    for kind, body in chunks[:-1]:
        out += _png_chunk(kind, body)
    out += ours + _png_chunk(b"IEND", b"")
    return bytes(out)


def _is_ours_png(kind: bytes, body: bytes) -> bool:
    return kind == b"iTXt" and body.startswith(KEYWORD.encode() + b"\x00")


def _png_record_text(data: bytes, where: str) -> str | None:
    for kind, body in _png_chunks(data, where):
        if _is_ours_png(kind, body):
            parsed = _itxt_text(body)
            if parsed is None:
                raise ProvenanceError(f"{where}: its qwentui record is damaged (an unreadable iTXt chunk)")
            return parsed[1]
    return None


# ---------------------------------------------------------------- XMP (JPEG, WebP)


def _xmp_description(record: Provenance) -> str:
    request = record.request
    prompt = escape(record.prompt)
    return (
        f'<rdf:Description rdf:about="" xmlns:qwentui="{XMP_NS}" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{prompt}</rdf:li></rdf:Alt></dc:description>'
        f"<qwentui:model>{escape(record.model)}</qwentui:model>"
        f"<qwentui:seed>{'' if record.seed is None else record.seed}</qwentui:seed>"
        f"<qwentui:size>{escape(str(request.get('size') or ''))}</qwentui:size>"
        f"<qwentui:record>{escape(record.to_json())}</qwentui:record>"
        "</rdf:Description>"
    )


def _xmp_packet(record: Provenance, existing: bytes | None) -> bytes:
    """Our rdf:Description inside the file's XMP packet (another tool's descriptions are kept), or a new one."""
    ours = _xmp_description(record)
    if existing is not None:
        text = existing.decode("utf-8", errors="replace")
        text = _OUR_DESCRIPTION.sub("", text)
        if "</rdf:RDF>" in text:
            return text.replace("</rdf:RDF>", ours + "</rdf:RDF>", 1).encode("utf-8")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{ours}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def _xmp_record_text(packet: bytes | None) -> str | None:
    if packet is None:
        return None
    match = _RECORD.search(packet.decode("utf-8", errors="replace"))
    return None if match is None else unescape(match.group(1))


# ---------------------------------------------------------------- JPEG


def _jpeg_segments(data: bytes, where: str) -> tuple[list[tuple[int, int, int]], int]:
    """The header segments before the image data as (marker, start, end), and where the rest begins."""
    if not data.startswith(b"\xff\xd8"):
        raise ProvenanceError(f"{where} is not a JPEG file")
    pos = 2
    segments: list[tuple[int, int, int]] = []
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise ProvenanceError(f"{where} is damaged: its JPEG header is broken")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: the header is over
            return segments, pos
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise ProvenanceError(f"{where} is damaged: a JPEG segment runs past the end of the file")
        segments.append((marker, pos, end))
        pos = end


def _jpeg_xmp(data: bytes, where: str) -> bytes | None:
    segments, _ = _jpeg_segments(data, where)
    for marker, start, end in segments:
        body = data[start + 4 : end]
        if marker == 0xE1 and body.startswith(XMP_HEADER):
            return body[len(XMP_HEADER) :]
    return None


def _jpeg_with(data: bytes, record: Provenance, path: Path) -> bytes:
    segments, scan = _jpeg_segments(data, path.name)
    existing: bytes | None = None
    kept: list[bytes] = []
    for marker, start, end in segments:
        body = data[start + 4 : end]
        if marker == 0xE1 and body.startswith(XMP_HEADER):
            existing = body[len(XMP_HEADER) :]
            continue  # replaced by the merged packet below
        kept.append(data[start:end])
    payload = XMP_HEADER + _xmp_packet(record, existing)
    if len(payload) > JPEG_SEGMENT_MAX:
        raise ProvenanceError(f"{path.name}: the request is too long for a JPEG's XMP segment (64 KB)")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    # After JFIF/Exif (APP0/APP1 come first by convention), before everything else.
    lead = 0
    while lead < len(kept) and kept[lead][1] in (0xE0, 0xE1):
        lead += 1
    return b"\xff\xd8" + b"".join(kept[:lead]) + segment + b"".join(kept[lead:]) + data[scan:]


# ---------------------------------------------------------------- WebP


def _webp_chunk_list(data: bytes, where: str) -> list[tuple[bytes, bytes]]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ProvenanceError(f"{where} is not a WebP file")
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 > len(data):
        raise ProvenanceError(f"{where} is damaged: the WebP file is cut short")
    chunks: list[tuple[bytes, bytes]] = []
    pos, end = 12, riff_size + 8
    while pos < end:
        if pos + 8 > end:
            raise ProvenanceError(f"{where} is damaged: a WebP chunk header is cut short")
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if pos + 8 + length > end:
            raise ProvenanceError(f"{where} is damaged: a WebP chunk runs past the end of the file")
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    if not chunks:
        raise ProvenanceError(f"{where} is damaged: the WebP file holds no image")
    return chunks


def _webp_chunks(data: bytes, where: str) -> dict[bytes, bytes]:
    return dict(_webp_chunk_list(data, where))


def _webp_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _webp_with(data: bytes, record: Provenance, path: Path) -> bytes:
    chunks = _webp_chunk_list(data, path.name)
    existing = next((b for k, b in chunks if k == b"XMP "), None)
    chunks = [(k, b) for k, b in chunks if k != b"XMP "]
    if chunks[0][0] == b"VP8X":
        if len(chunks[0][1]) < 10:
            raise ProvenanceError(f"{path.name} is damaged: its WebP VP8X header is too short")
        flags = chunks[0][1][0] | 0x04  # XMP present
        chunks[0] = (b"VP8X", bytes([flags]) + chunks[0][1][1:])
    else:
        # A simple (VP8 / VP8L) file becomes an extended one: a VP8X header with the canvas size first.
        width, height, alpha = _webp_canvas(path)
        flags = 0x04 | (0x10 if alpha else 0)
        header = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks.insert(0, (b"VP8X", header))
    chunks.append((b"XMP ", _xmp_packet(record, existing)))  # the XMP chunk comes last
    body = b"WEBP" + b"".join(_webp_chunk(k, b) for k, b in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _webp_canvas(path: Path) -> tuple[int, int, bool]:
    from PIL import Image, UnidentifiedImageError  # the header only: no pixels are decoded

    try:
        with Image.open(path) as img:
            return img.width, img.height, img.mode in ("RGBA", "LA", "PA")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ProvenanceError(f"{path.name} is damaged: Pillow cannot read its WebP header ({exc})") from None


# ---------------------------------------------------------------- MP4


def _write_mp4(path: Path, record: Provenance) -> Tagged:
    import av  # imported here: only videos pay for loading FFmpeg

    tmp = _tmp_for(path)
    try:
        with av.open(str(path)) as src, av.open(str(tmp), "w", format=_muxer(path)) as dst:
            metadata = {k: v for k, v in src.metadata.items() if k not in _MP4_SKIP}
            metadata["comment"] = record.to_json()
            metadata["description"] = record.prompt
            dst.metadata.update(metadata)
            streams = {}
            for stream in src.streams:
                if stream.type in ("video", "audio"):
                    streams[stream.index] = dst.add_stream_from_template(stream)
            if not streams:
                raise ProvenanceError(f"{path.name} holds no video or audio stream")
            for packet in src.demux(*(src.streams[i] for i in streams)):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
        _fsync_file(tmp)
        return _commit(tmp, path)
    except av.FFmpegError as exc:
        tmp.unlink(missing_ok=True)
        raise ProvenanceError(f"{path.name} is damaged: FFmpeg cannot remux it ({exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _muxer(path: Path) -> str:
    """ "mov" for a QuickTime file (brand `qt  `), else "mp4": a remux keeps the container it found."""
    with path.open("rb") as fh:
        head = fh.read(12)
    return "mov" if head[8:12] == b"qt  " else "mp4"


def _mp4_record_text(path: Path) -> str | None:
    import av

    try:
        with av.open(str(path)) as src:
            comment = src.metadata.get("comment")
    except av.FFmpegError as exc:
        raise ProvenanceError(f"{path.name} is damaged: FFmpeg cannot read it ({exc})") from None
    if not comment or f'"{KEYWORD}":' not in comment:
        return None
    return str(comment)


# ---------------------------------------------------------------- files


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProvenanceError(f"cannot read {path}: {exc.strerror or exc}") from None


def _tmp_for(path: Path) -> Path:
    # not `.part`: that name is download.py's resumable partial file
    return path.with_name(f".{path.name}.tagging")


def _replace(path: Path, data: bytes) -> Tagged:
    tmp = _tmp_for(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return _commit(tmp, path, hashlib.sha256(data).hexdigest(), len(data))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_file(path: Path) -> None:
    os.chmod(path, 0o600)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(tmp: Path, dest: Path, digest: str | None = None, size: int | None = None) -> Tagged:
    if digest is None or size is None:
        digest, size = _hash_file(tmp)
    os.replace(tmp, dest)
    try:
        dir_fd = os.open(dest.parent, os.O_RDONLY)
    except OSError:
        return Tagged(dest, size, digest)
    try:
        os.fsync(dir_fd)  # the rename itself is durable
    finally:
        os.close(dir_fd)
    return Tagged(dest, size, digest)


def _hash_file(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            hasher.update(block)
            size += len(block)
    return hasher.hexdigest(), size
