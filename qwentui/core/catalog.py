"""The model catalog: every (model, mode) pair the app can send, as data.

One row per model and mode, because one model can serve two modes with different routes and limits
(wan2.6-image edits on one route and interleaves on another). Everything that differs between models
lives here: route, sync/async, sizes, counts, durations, image limits, which optional fields exist.
`requests.py` builds and validates from these rows; the simulator validates the wire body from them;
the composer shows exactly the fields a row names. Facts come from `docs/protocol.md` (Wan 2.7: §12);
where sources disagree a row holds the stricter reading, said in a comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Mode(StrEnum):
    T2I = "t2i"  # text-to-image (Wan and Qwen-Image generate)
    EDIT = "edit"  # image editing with 1-4 reference images (wan2.6-image, qwen-image-edit family)
    INTERLEAVE = "interleave"  # interleaved text + images
    I2I = "i2i"  # image-to-image (wan2.5-i2i-preview)
    T2V = "t2v"
    I2V = "i2v"
    KF2V = "kf2v"  # first + last frame
    R2V = "r2v"  # reference-to-video
    VACE = "vace"  # VACE video editing
    ASSEMBLE = "assemble"  # local: clips put together into one film here, never sent to the service

    @property
    def is_video(self) -> bool:
        return self in VIDEO_MODES

    @property
    def is_local(self) -> bool:
        """Made on this machine (no model, no API call): the engine never sends such a job."""
        return self in LOCAL_MODES

    @property
    def label(self) -> str:
        return MODE_TITLES[self]


VIDEO_MODES = frozenset({Mode.T2V, Mode.I2V, Mode.KF2V, Mode.R2V, Mode.VACE, Mode.ASSEMBLE})
LOCAL_MODES = frozenset({Mode.ASSEMBLE})
GENERATION_MODES = tuple(m for m in Mode if m not in LOCAL_MODES)  # the modes a request (and a model) can have

MODE_TITLES: dict[Mode, str] = {
    Mode.T2I: "Text to image",
    Mode.EDIT: "Image edit",
    Mode.INTERLEAVE: "Text + images",
    Mode.I2I: "Image to image",
    Mode.T2V: "Text to video",
    Mode.I2V: "Image to video",
    Mode.KF2V: "First + last frame",
    Mode.R2V: "Reference to video",
    Mode.VACE: "VACE video edit",
    Mode.ASSEMBLE: "Assembled film",
}


class Route(StrEnum):
    """Endpoint paths relative to `<base>/api/v1`."""

    MULTIMODAL = "/services/aigc/multimodal-generation/generation"  # sync, messages payload
    IMAGE_GENERATION = "/services/aigc/image-generation/generation"  # async, messages payload
    TEXT2IMAGE = "/services/aigc/text2image/image-synthesis"  # async, input.prompt
    IMAGE2IMAGE = "/services/aigc/image2image/image-synthesis"  # async, input.prompt + images
    VIDEO = "/services/aigc/video-generation/video-synthesis"  # async, t2v/i2v/r2v/vace
    IMAGE2VIDEO = "/services/aigc/image2video/video-synthesis"  # async, kf2v

    @property
    def is_async(self) -> bool:
        return self is not Route.MULTIMODAL


class Payload(StrEnum):
    """The shape of `input` on the wire."""

    MESSAGES = "messages"  # input.messages[0].content = [{text}, {image}...]
    PROMPT = "prompt"  # input.prompt (+ input.images for i2i, negative_prompt in input)
    VIDEO = "video"  # input.prompt + mode-specific url fields


class Field(StrEnum):
    """Optional request fields; a row lists the ones its model takes."""

    NEGATIVE_PROMPT = "negative_prompt"
    SIZE = "size"
    N = "n"
    SEED = "seed"
    PROMPT_EXTEND = "prompt_extend"
    WATERMARK = "watermark"
    DURATION = "duration"
    RESOLUTION = "resolution"
    AUDIO_URL = "audio_url"
    AUDIO = "audio"  # bool: false forces a silent video (flash models)
    SHOT_TYPE = "shot_type"
    TEMPLATE = "template"
    MAX_IMAGES = "max_images"
    FUNCTION = "function"
    RATIO = "ratio"  # wan2.7-t2v: aspect ratio, with `resolution` instead of `size`
    MEDIA = "media"  # wan2.7-i2v: input.media[] of {type, url} (first frame, last frame, clip, audio)
    ENABLE_SEQUENTIAL = "enable_sequential"  # wan2.7-image: a coherent image set
    THINKING_MODE = "thinking_mode"  # wan2.7-image: slower, better text-to-image
    BBOX_LIST = "bbox_list"  # wan2.7-image: regions to edit, one list of boxes per input image
    COLOR_PALETTE = "color_palette"  # wan2.7-image: 3-10 colours with their share


SEED_MAX = 2_147_483_647
MB = 1024 * 1024

VIDEO_720P = ("1280*720", "720*1280", "960*960", "1088*832", "832*1088")
VIDEO_1080P = ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632")
VIDEO_480P = ("832*480", "480*832", "624*624")
QWEN_IMAGE_SIZES = ("1664*928", "1472*1104", "1328*1328", "1104*1472", "928*1664")
# wan2.7-t2v asks for resolution x ratio; the pixel size per pair is not documented: the wan2.6 tier table is
# assumed to carry over (one third-party page lists exactly these), in the same order as the ratios.
VIDEO_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
VIDEO_TIERS = {"720P": VIDEO_720P, "1080P": VIDEO_1080P}
# Named image sizes are pixel budgets, not squares: the model picks the aspect ratio ("2K" came back as
# 2985*1405 in the official example). The real size is only known from the answer's `usage.size`.
NAMED_SIZE_PIXELS = {"1K": 1024 * 1024, "2K": 2048 * 2048, "4K": 4096 * 4096}

IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
QWEN_IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF")

VACE_FUNCTIONS = ("image_reference", "video_repainting", "video_edit", "video_extension", "video_outpainting")
SHOT_TYPES = ("single", "multi")


@dataclass(frozen=True)
class SizeRule:
    """Allowed `size` values: an explicit list, and/or `W*H` within a pixel range and aspect range."""

    choices: tuple[str, ...] = ()  # exact values always accepted (named sizes like "1K", or tiers)
    min_pixels: int | None = None  # when set, any W*H with pixels in [min, max] and aspect ok is accepted
    max_pixels: int | None = None
    max_aspect: float = 4.0  # long side / short side
    min_side: int | None = None
    max_side: int | None = None

    @property
    def free_form(self) -> bool:
        return self.min_pixels is not None


@dataclass(frozen=True)
class ImageRule:
    """Limits on input images (reference images, frames)."""

    min_count: int
    max_count: int
    min_side: int = 240
    max_side: int = 8000
    max_bytes: int = 10 * MB
    formats: tuple[str, ...] = IMAGE_FORMATS
    # False where the docs say "PNG without alpha": such a file is refused before upload (requests.py says why)
    allow_alpha: bool = True
    max_videos: int = 0  # r2v accepts some reference videos among its references
    max_aspect: float | None = None  # long side / short side, when the docs give a bound


@dataclass(frozen=True)
class ClipRule:
    """Limits on an audio or video input file (an audio track, driving audio, a first clip)."""

    kind: str  # "audio" | "video"
    formats: tuple[str, ...]  # file suffixes, lower case, no dot
    min_seconds: float
    max_seconds: float
    max_bytes: int
    min_side: int | None = None  # videos: each side in pixels
    max_side: int | None = None
    max_aspect: float | None = None


@dataclass(frozen=True)
class MediaSlot:
    """One `input.media[].type` a model takes, and the limits on the file it names."""

    type: str  # the wire name: first_frame, last_frame, driving_audio, first_clip
    label: str  # for people
    image: ImageRule | None = None
    clip: ClipRule | None = None


@dataclass(frozen=True)
class SequentialRule:
    """What changes when `enable_sequential` asks for an image set."""

    n_range: tuple[int, int]
    default_n: int
    size: SizeRule  # image sets have their own (smaller) size ceiling


@dataclass(frozen=True)
class ModelMode:
    """One row of the catalog: a model used in one mode."""

    model: str
    mode: Mode
    route: Route
    payload: Payload
    summary: str
    prompt_max: int = 2000
    negative_max: int = 500
    prompt_required: bool = True
    fields: frozenset[Field] = frozenset()
    size: SizeRule | None = None
    default_size: str | None = None
    n_range: tuple[int, int] = (1, 1)
    default_n: int = 1
    images: ImageRule = ImageRule(0, 0)
    durations: tuple[int, ...] = ()  # allowed seconds; empty = the model takes no duration
    default_duration: int | None = None
    resolutions: tuple[str, ...] = ()
    default_resolution: str | None = None
    max_images_range: tuple[int, int] = (1, 5)  # interleave only
    ratios: tuple[str, ...] = ()  # wan2.7-t2v: `ratio` values (resolution + ratio instead of size)
    default_ratio: str | None = None
    audio_rule: ClipRule | None = None  # limits on a local `audio_url` file
    media: tuple[MediaSlot, ...] = ()  # the `input.media[]` types the model takes
    media_combos: tuple[frozenset[str], ...] = ()  # the sets of media types the service accepts together
    sequential: SequentialRule | None = None  # rows that can make image sets
    sync_route_too: bool = False  # the simulator also accepts the messages payload on the sync route
    also_routes: tuple[Route, ...] = ()  # other routes the service accepts for this model
    typical_seconds: tuple[int, int] = (5, 30)  # how long a task usually takes (simulator, ETA)
    recommended: bool = False
    new_protocol: bool = False  # the wan2.7 layout: video `usage` splits input/output duration; image tokens count
    extra: dict[str, object] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> tuple[str, Mode]:
        return (self.model, self.mode)

    @property
    def is_async(self) -> bool:
        return self.route.is_async

    @property
    def is_video(self) -> bool:
        return self.mode.is_video

    def takes(self, f: Field) -> bool:
        return f in self.fields

    def media_slot(self, media_type: str) -> MediaSlot | None:
        return next((slot for slot in self.media if slot.type == media_type), None)


def _f(*names: Field) -> frozenset[Field]:
    return frozenset(names)


_IMG_COMMON = _f(Field.NEGATIVE_PROMPT, Field.SIZE, Field.N, Field.SEED, Field.PROMPT_EXTEND, Field.WATERMARK)
_T2V = _f(
    Field.NEGATIVE_PROMPT,
    Field.SIZE,
    Field.DURATION,
    Field.SEED,
    Field.PROMPT_EXTEND,
    Field.WATERMARK,
    Field.AUDIO_URL,
)
_I2V = _f(
    Field.NEGATIVE_PROMPT,
    Field.RESOLUTION,
    Field.DURATION,
    Field.SEED,
    Field.PROMPT_EXTEND,
    Field.WATERMARK,
    Field.AUDIO_URL,
    Field.TEMPLATE,
)
_VIDEO_TIME = (60, 300)
_RANGE_2_15 = tuple(range(2, 16))
_RANGE_2_10 = tuple(range(2, 11))

WAN26_T2I_SIZE = SizeRule(
    choices=("1280*1280", "1104*1472", "1472*1104", "960*1696", "1696*960"),
    min_pixels=1280 * 1280,
    max_pixels=1440 * 1440,
)
WAN26_IMAGE_SIZE = SizeRule(choices=("1K", "2K"), min_pixels=768 * 768, max_pixels=2048 * 2048)
INTERLEAVE_SIZE = SizeRule(choices=("1024*1024", "1280*1280"), min_pixels=768 * 768, max_pixels=1280 * 1280)
I2I_SIZE = SizeRule(choices=("1280*1280", "1024*1024"), min_pixels=768 * 768, max_pixels=1280 * 1280)
WAN25_T2I_SIZE = SizeRule(choices=("1280*1280", "1024*1024"), min_pixels=768 * 768, max_pixels=1440 * 1440)
WAN22_T2I_SIZE = SizeRule(
    choices=("1024*1024", "1280*720", "720*1280"),
    min_pixels=512 * 512,
    max_pixels=1440 * 1440,
    min_side=512,
    max_side=1440,
)
QWEN2_SIZE = SizeRule(
    choices=("1024*1024", "1328*1328", "1664*928", "928*1664"), min_pixels=512 * 512, max_pixels=2048 * 2048
)
QWEN_IMAGE_SIZE = SizeRule(choices=QWEN_IMAGE_SIZES)
T2V_26_SIZE = SizeRule(choices=VIDEO_720P + VIDEO_1080P)
T2V_25_SIZE = SizeRule(choices=VIDEO_480P + VIDEO_720P + VIDEO_1080P)
T2V_22_SIZE = SizeRule(choices=VIDEO_480P + VIDEO_1080P)
VACE_SIZE = SizeRule(choices=VIDEO_720P)

QWEN_IMAGES = ImageRule(1, 3, min_side=384, max_side=3072, formats=QWEN_IMAGE_FORMATS)
I2V_IMAGE = ImageRule(1, 1, min_side=360, max_side=2000, allow_alpha=False)
# An audio track (audio_url, driving_audio): WAV or MP3, at most 15 MB. Length: 2-30 s in most sources, 3-30 s
# in others (wan2.6 docs, one wan2.7 wrapper): the stricter 3 s minimum holds.
AUDIO_TRACK = ClipRule("audio", ("wav", "mp3"), min_seconds=3, max_seconds=30, max_bytes=15 * MB)

# ---- Wan 2.7 -----------------------------------------------------------------------------------------------
_WAN27_VIDEO = _f(
    Field.NEGATIVE_PROMPT,
    Field.RESOLUTION,
    Field.DURATION,
    Field.SEED,
    Field.PROMPT_EXTEND,
    Field.WATERMARK,
)
# Frames of wan2.7-i2v: third-party pages only (no official table was reachable): JPEG/PNG without alpha/BMP/
# WEBP, 240-8000 px a side, aspect 1:8-8:1, 20 MB.
WAN27_FRAME = ImageRule(0, 1, max_bytes=20 * MB, allow_alpha=False, max_aspect=8.0)
WAN27_CLIP = ClipRule(
    "video",
    ("mp4", "mov"),
    min_seconds=2,
    max_seconds=10,
    max_bytes=100 * MB,
    min_side=240,
    max_side=4096,
    max_aspect=8,
)
WAN27_MEDIA = (  # in the order people name them: what the video starts from, where it ends, its sound
    MediaSlot("first_frame", "first frame", image=WAN27_FRAME),
    MediaSlot("first_clip", "first clip", clip=WAN27_CLIP),
    MediaSlot("last_frame", "last frame", image=WAN27_FRAME),
    MediaSlot("driving_audio", "driving audio", clip=AUDIO_TRACK),
)
# The combinations third-party wrappers agree on (the official pages describe the same three tasks): first
# frame, first + last frame, or a first clip (optionally steered to a last frame); driving audio only with a
# first frame. Anything else is refused here, before it costs a failed task.
WAN27_MEDIA_COMBOS = (
    frozenset({"first_frame"}),
    frozenset({"first_frame", "driving_audio"}),
    frozenset({"first_frame", "last_frame"}),
    frozenset({"first_frame", "last_frame", "driving_audio"}),
    frozenset({"first_clip"}),
    frozenset({"first_clip", "last_frame"}),
)
# Custom W*H for wan2.7-image is only given by wrappers: 768-2048 px a side (pro text-to-image: up to 4096),
# aspect 1:8-8:1. Named sizes: 1K/2K, and 4K only on pro for plain text-to-image (not sets, not edits).
WAN27_IMAGE_SIZE = SizeRule(
    choices=("1K", "2K"), min_pixels=768 * 768, max_pixels=2048 * 2048, max_aspect=8.0, min_side=768, max_side=2048
)
WAN27_PRO_T2I_SIZE = SizeRule(
    choices=("1K", "2K", "4K"),
    min_pixels=768 * 768,
    max_pixels=4096 * 4096,
    max_aspect=8.0,
    min_side=768,
    max_side=4096,
)
# Reference images: the skill says 10 MB, wrappers 20 MB and aspect 1:8-8:1: the stricter of each holds.
WAN27_REFS = ImageRule(1, 9, max_bytes=10 * MB, allow_alpha=False, max_aspect=8.0)
# n: 1-4 (sets: 1-12). The default is uncertain (skill 4, wrappers 1), so it is always sent: 1, a set 4.
WAN27_SETS = SequentialRule(n_range=(1, 12), default_n=4, size=WAN27_IMAGE_SIZE)
_WAN27_IMAGE = _f(Field.NEGATIVE_PROMPT, Field.SIZE, Field.N, Field.SEED, Field.WATERMARK, Field.ENABLE_SEQUENTIAL)
_WAN27_IMAGE_TIME = (60, 120)  # the docs: async wan2.7 image tasks take 1-2 minutes

CATALOG: tuple[ModelMode, ...] = (
    # ---- images ------------------------------------------------------------------------------------------
    ModelMode(
        "wan2.6-t2i",
        Mode.T2I,
        Route.IMAGE_GENERATION,
        Payload.MESSAGES,
        "Wan 2.6 text-to-image, 1280-1440 px",
        prompt_max=2100,
        fields=_IMG_COMMON,
        size=WAN26_T2I_SIZE,
        default_size="1280*1280",
        n_range=(1, 4),
        images=ImageRule(0, 1),
        also_routes=(Route.MULTIMODAL,),
        typical_seconds=(5, 20),
        recommended=True,
    ),
    ModelMode(
        "wan2.5-t2i-preview",
        Mode.T2I,
        Route.TEXT2IMAGE,
        Payload.PROMPT,
        "Wan 2.5 text-to-image (preview)",
        fields=_IMG_COMMON,
        size=WAN25_T2I_SIZE,
        default_size="1280*1280",
        n_range=(1, 4),
        typical_seconds=(5, 20),
    ),
    ModelMode(
        "wan2.2-t2i-plus",
        Mode.T2I,
        Route.TEXT2IMAGE,
        Payload.PROMPT,
        "Wan 2.2 text-to-image, quality",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=WAN22_T2I_SIZE,
        default_size="1024*1024",
        n_range=(1, 4),
        typical_seconds=(5, 20),
    ),
    ModelMode(
        "wan2.2-t2i-flash",
        Mode.T2I,
        Route.TEXT2IMAGE,
        Payload.PROMPT,
        "Wan 2.2 text-to-image, fast",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=WAN22_T2I_SIZE,
        default_size="1024*1024",
        n_range=(1, 4),
        typical_seconds=(3, 10),
    ),
    ModelMode(
        "qwen-image-plus",
        Mode.T2I,
        Route.TEXT2IMAGE,
        Payload.PROMPT,
        "Qwen-Image, text rendering",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=QWEN_IMAGE_SIZE,
        default_size="1328*1328",
        also_routes=(Route.MULTIMODAL,),
        typical_seconds=(5, 20),
    ),
    ModelMode(
        "qwen-image-max",
        Mode.T2I,
        Route.TEXT2IMAGE,
        Payload.PROMPT,
        "Qwen-Image max, best text rendering",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=QWEN_IMAGE_SIZE,
        default_size="1328*1328",
        also_routes=(Route.MULTIMODAL,),
        typical_seconds=(8, 30),
    ),
    ModelMode(
        "qwen-image-2.0",
        Mode.T2I,
        Route.MULTIMODAL,
        Payload.MESSAGES,
        "Qwen-Image 2.0 generate",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=QWEN2_SIZE,
        default_size="1024*1024",
        n_range=(1, 6),
        typical_seconds=(5, 20),
    ),
    ModelMode(
        "qwen-image-2.0-pro",
        Mode.T2I,
        Route.MULTIMODAL,
        Payload.MESSAGES,
        "Qwen-Image 2.0 pro generate",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=QWEN2_SIZE,
        default_size="1024*1024",
        n_range=(1, 6),
        typical_seconds=(8, 30),
    ),
    ModelMode(
        "wan2.6-image",
        Mode.EDIT,
        Route.IMAGE_GENERATION,
        Payload.MESSAGES,
        "Wan 2.6 image edit, 1-4 references",
        fields=_IMG_COMMON,
        size=WAN26_IMAGE_SIZE,
        default_size="1K",
        n_range=(1, 4),
        images=ImageRule(1, 4, allow_alpha=False),
        also_routes=(Route.MULTIMODAL,),
        typical_seconds=(8, 30),
        recommended=True,
    ),
    ModelMode(
        "wan2.6-image",
        Mode.INTERLEAVE,
        Route.IMAGE_GENERATION,
        Payload.MESSAGES,
        "Wan 2.6 interleaved text and images",
        fields=_IMG_COMMON - {Field.N} | {Field.MAX_IMAGES},
        size=INTERLEAVE_SIZE,
        default_size="1280*1280",
        images=ImageRule(0, 1, allow_alpha=False),
        typical_seconds=(15, 60),
        recommended=True,
    ),
    ModelMode(
        "qwen-image-edit",
        Mode.EDIT,
        Route.MULTIMODAL,
        Payload.MESSAGES,
        "Qwen-Image edit (one output)",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=QWEN2_SIZE,
        default_size="1024*1024",
        images=QWEN_IMAGES,
        typical_seconds=(5, 20),
    ),
    ModelMode(
        "qwen-image-edit-plus",
        Mode.EDIT,
        Route.MULTIMODAL,
        Payload.MESSAGES,
        "Qwen-Image edit plus, up to 6 outputs",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=QWEN2_SIZE,
        default_size="1024*1024",
        n_range=(1, 6),
        images=QWEN_IMAGES,
        typical_seconds=(5, 20),
    ),
    ModelMode(
        "qwen-image-edit-max",
        Mode.EDIT,
        Route.MULTIMODAL,
        Payload.MESSAGES,
        "Qwen-Image edit max",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=QWEN2_SIZE,
        default_size="1024*1024",
        n_range=(1, 6),
        images=QWEN_IMAGES,
        typical_seconds=(8, 30),
    ),
    ModelMode(
        "qwen-image-2.0",
        Mode.EDIT,
        Route.MULTIMODAL,
        Payload.MESSAGES,
        "Qwen-Image 2.0 edit",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=QWEN2_SIZE,
        default_size="1024*1024",
        n_range=(1, 6),
        images=QWEN_IMAGES,
        typical_seconds=(5, 20),
    ),
    ModelMode(
        "qwen-image-2.0-pro",
        Mode.EDIT,
        Route.MULTIMODAL,
        Payload.MESSAGES,
        "Qwen-Image 2.0 pro edit",
        prompt_max=800,
        fields=_IMG_COMMON,
        size=QWEN2_SIZE,
        default_size="1024*1024",
        n_range=(1, 6),
        images=QWEN_IMAGES,
        typical_seconds=(8, 30),
    ),
    ModelMode(
        "wan2.5-i2i-preview",
        Mode.I2I,
        Route.IMAGE2IMAGE,
        Payload.PROMPT,
        "Wan 2.5 image-to-image, 1-3 images",
        fields=_IMG_COMMON,
        size=I2I_SIZE,
        default_size="1280*1280",
        n_range=(1, 4),
        images=ImageRule(1, 3, min_side=384, max_side=5000),
        typical_seconds=(8, 30),
        recommended=True,
    ),
    ModelMode(
        "wan2.7-image-pro",
        Mode.T2I,
        Route.IMAGE_GENERATION,
        Payload.MESSAGES,
        "Wan 2.7 pro text-to-image: up to 4K, image sets of 12, thinking mode, palettes",
        prompt_max=5000,
        fields=_WAN27_IMAGE | {Field.THINKING_MODE, Field.COLOR_PALETTE},
        size=WAN27_PRO_T2I_SIZE,
        default_size="2K",
        n_range=(1, 4),
        sequential=WAN27_SETS,
        also_routes=(Route.MULTIMODAL,),
        typical_seconds=_WAN27_IMAGE_TIME,
        new_protocol=True,
        recommended=True,
    ),
    ModelMode(
        "wan2.7-image",
        Mode.T2I,
        Route.IMAGE_GENERATION,
        Payload.MESSAGES,
        "Wan 2.7 text-to-image, faster: up to 2K, image sets of 12, thinking mode, palettes",
        prompt_max=5000,
        fields=_WAN27_IMAGE | {Field.THINKING_MODE, Field.COLOR_PALETTE},
        size=WAN27_IMAGE_SIZE,
        default_size="2K",
        n_range=(1, 4),
        sequential=WAN27_SETS,
        also_routes=(Route.MULTIMODAL,),
        typical_seconds=_WAN27_IMAGE_TIME,
        new_protocol=True,
    ),
    ModelMode(
        "wan2.7-image-pro",
        Mode.EDIT,
        Route.IMAGE_GENERATION,
        Payload.MESSAGES,
        "Wan 2.7 pro edit: 1-9 references, region boxes, palettes, image sets (2K)",
        prompt_max=5000,
        fields=_WAN27_IMAGE | {Field.BBOX_LIST, Field.COLOR_PALETTE},
        size=WAN27_IMAGE_SIZE,
        default_size="2K",
        n_range=(1, 4),
        images=WAN27_REFS,
        sequential=WAN27_SETS,
        also_routes=(Route.MULTIMODAL,),
        typical_seconds=_WAN27_IMAGE_TIME,
        new_protocol=True,
        recommended=True,
    ),
    ModelMode(
        "wan2.7-image",
        Mode.EDIT,
        Route.IMAGE_GENERATION,
        Payload.MESSAGES,
        "Wan 2.7 edit, faster: 1-9 references, region boxes, palettes, image sets (2K)",
        prompt_max=5000,
        fields=_WAN27_IMAGE | {Field.BBOX_LIST, Field.COLOR_PALETTE},
        size=WAN27_IMAGE_SIZE,
        default_size="2K",
        n_range=(1, 4),
        images=WAN27_REFS,
        sequential=WAN27_SETS,
        also_routes=(Route.MULTIMODAL,),
        typical_seconds=_WAN27_IMAGE_TIME,
        new_protocol=True,
    ),
    # ---- videos ------------------------------------------------------------------------------------------
    ModelMode(
        "wan2.7-t2v",
        Mode.T2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.7 text-to-video: resolution + ratio, audio, multi-shot by prompt, 2-15 s",
        prompt_max=5000,
        fields=_WAN27_VIDEO | {Field.RATIO, Field.AUDIO_URL},
        durations=_RANGE_2_15,
        default_duration=5,
        resolutions=("720P", "1080P"),
        default_resolution="1080P",
        ratios=VIDEO_RATIOS,
        default_ratio="16:9",
        audio_rule=AUDIO_TRACK,
        typical_seconds=_VIDEO_TIME,
        new_protocol=True,
        recommended=True,
    ),
    ModelMode(
        "wan2.7-i2v",
        Mode.I2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.7 image/clip-to-video: first frame, first + last frame, continue a clip, driving audio, 2-15 s",
        prompt_max=5000,
        prompt_required=False,
        fields=_WAN27_VIDEO | {Field.MEDIA},
        durations=_RANGE_2_15,
        default_duration=5,
        resolutions=("720P", "1080P"),
        default_resolution="1080P",
        media=WAN27_MEDIA,
        media_combos=WAN27_MEDIA_COMBOS,
        typical_seconds=_VIDEO_TIME,
        new_protocol=True,
        recommended=True,
    ),
    ModelMode(
        "wan2.6-t2v",
        Mode.T2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.6 text-to-video: audio, multi-shot, 2-15 s",
        prompt_max=1500,
        fields=_T2V | {Field.SHOT_TYPE},
        audio_rule=AUDIO_TRACK,
        size=T2V_26_SIZE,
        default_size="1280*720",
        durations=_RANGE_2_15,
        default_duration=5,
        typical_seconds=_VIDEO_TIME,
        recommended=True,
    ),
    ModelMode(
        "wan2.5-t2v-preview",
        Mode.T2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.5 text-to-video: audio, 5/10 s",
        fields=_T2V,
        audio_rule=AUDIO_TRACK,
        size=T2V_25_SIZE,
        default_size="1280*720",
        durations=(5, 10),
        default_duration=5,
        typical_seconds=_VIDEO_TIME,
    ),
    ModelMode(
        "wan2.2-t2v-plus",
        Mode.T2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.2 text-to-video: silent, 5 s",
        prompt_max=800,
        fields=_T2V - {Field.AUDIO_URL},
        size=T2V_22_SIZE,
        default_size="1920*1080",
        durations=(5,),
        default_duration=5,
        typical_seconds=_VIDEO_TIME,
    ),
    ModelMode(
        "wan2.6-i2v-flash",
        Mode.I2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.6 image-to-video, fast: audio or silent, 2-15 s",
        prompt_max=1500,
        fields=_I2V | {Field.AUDIO, Field.SHOT_TYPE},
        audio_rule=AUDIO_TRACK,
        images=I2V_IMAGE,
        durations=_RANGE_2_15,
        default_duration=5,
        resolutions=("720P", "1080P"),
        default_resolution="720P",
        prompt_required=False,
        typical_seconds=(30, 150),
        recommended=True,
    ),
    ModelMode(
        "wan2.6-i2v",
        Mode.I2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.6 image-to-video: audio, multi-shot, 2-15 s",
        prompt_max=1500,
        fields=_I2V | {Field.SHOT_TYPE},
        audio_rule=AUDIO_TRACK,
        images=I2V_IMAGE,
        durations=_RANGE_2_15,
        default_duration=5,
        resolutions=("720P", "1080P"),
        default_resolution="720P",
        prompt_required=False,
        typical_seconds=_VIDEO_TIME,
    ),
    ModelMode(
        "wan2.5-i2v-preview",
        Mode.I2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.5 image-to-video: audio, 5/10 s",
        fields=_I2V,
        audio_rule=AUDIO_TRACK,
        images=I2V_IMAGE,
        durations=(5, 10),
        default_duration=5,
        resolutions=("480P", "720P", "1080P"),
        default_resolution="720P",
        prompt_required=False,
        typical_seconds=_VIDEO_TIME,
    ),
    ModelMode(
        "wan2.2-kf2v-flash",
        Mode.KF2V,
        Route.IMAGE2VIDEO,
        Payload.VIDEO,
        "Wan 2.2 first + last frame: silent, 5 s",
        prompt_max=800,
        fields=_f(
            Field.NEGATIVE_PROMPT,
            Field.RESOLUTION,
            Field.DURATION,
            Field.SEED,
            Field.PROMPT_EXTEND,
            Field.WATERMARK,
            Field.TEMPLATE,
        ),
        images=ImageRule(1, 2, min_side=360, max_side=2000),
        durations=(5,),
        default_duration=5,
        resolutions=("480P", "720P", "1080P"),
        default_resolution="720P",
        prompt_required=False,
        typical_seconds=_VIDEO_TIME,
        recommended=True,
    ),
    ModelMode(
        "wan2.6-r2v",
        Mode.R2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.6 reference-to-video: characters from 1-5 references, 2-10 s",
        prompt_max=1500,
        fields=_f(
            Field.NEGATIVE_PROMPT,
            Field.SIZE,
            Field.DURATION,
            Field.SEED,
            Field.WATERMARK,
            Field.SHOT_TYPE,
            Field.PROMPT_EXTEND,
        ),
        size=T2V_26_SIZE,
        default_size="1280*720",
        images=ImageRule(1, 5, max_videos=3),
        durations=_RANGE_2_10,
        default_duration=5,
        typical_seconds=_VIDEO_TIME,
    ),
    ModelMode(
        "wan2.6-r2v-flash",
        Mode.R2V,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.6 reference-to-video, fast: audio or silent, 2-10 s",
        prompt_max=1500,
        fields=_f(
            Field.NEGATIVE_PROMPT,
            Field.SIZE,
            Field.DURATION,
            Field.SEED,
            Field.WATERMARK,
            Field.SHOT_TYPE,
            Field.PROMPT_EXTEND,
            Field.AUDIO,
        ),
        size=T2V_26_SIZE,
        default_size="1280*720",
        images=ImageRule(1, 5, max_videos=3),
        durations=_RANGE_2_10,
        default_duration=5,
        typical_seconds=(30, 150),
        recommended=True,
    ),
    ModelMode(
        "wan2.1-vace-plus",
        Mode.VACE,
        Route.VIDEO,
        Payload.VIDEO,
        "Wan 2.1 VACE: reference, repaint, local edit, extend, outpaint (720P, <=5 s)",
        prompt_max=800,
        prompt_required=False,
        fields=_f(Field.FUNCTION, Field.SIZE, Field.PROMPT_EXTEND, Field.WATERMARK, Field.SEED),
        size=VACE_SIZE,
        images=ImageRule(0, 3),
        typical_seconds=_VIDEO_TIME,
        recommended=True,
    ),
)

# The default model of each mode (the seeds' choices).
DEFAULT_MODEL: dict[Mode, str] = {
    Mode.T2I: "wan2.6-t2i",
    Mode.EDIT: "wan2.6-image",
    Mode.INTERLEAVE: "wan2.6-image",
    Mode.I2I: "wan2.5-i2i-preview",
    Mode.T2V: "wan2.6-t2v",
    Mode.I2V: "wan2.6-i2v-flash",
    Mode.KF2V: "wan2.2-kf2v-flash",
    Mode.R2V: "wan2.6-r2v-flash",
    Mode.VACE: "wan2.1-vace-plus",
}

_BY_KEY: dict[tuple[str, Mode], ModelMode] = {row.key: row for row in CATALOG}


class UnknownModel(LookupError):
    """The model is not in the catalog, or does not serve the mode asked for."""


def models() -> list[str]:
    """Every model name, in catalog order, once."""
    return list(dict.fromkeys(row.model for row in CATALOG))


def rows_for_mode(mode: Mode) -> list[ModelMode]:
    return [row for row in CATALOG if row.mode is mode]


def modes_of(model: str) -> list[Mode]:
    return [row.mode for row in CATALOG if row.model == model]


def lookup(model: str, mode: Mode | str) -> ModelMode:
    """The row for `model` in `mode`, or UnknownModel with a message that lists what is possible."""
    mode = Mode(mode)
    row = _BY_KEY.get((model, mode))
    if row is not None:
        return row
    served = modes_of(model)
    if not served:
        raise UnknownModel(f"unknown model {model!r}; known models: {', '.join(models())}")
    names = ", ".join(m.value for m in served)
    choices = ", ".join(r.model for r in rows_for_mode(mode))
    raise UnknownModel(f"model {model!r} does not do {mode.value} (it does: {names}); for {mode.value} use: {choices}")


def default_row(mode: Mode | str) -> ModelMode:
    mode = Mode(mode)
    if mode.is_local:
        raise UnknownModel(f"{mode.value} jobs are made on this machine and have no model")
    return lookup(DEFAULT_MODEL[mode], mode)


def rows_for_route(route: Route, model: str) -> list[ModelMode]:
    """Rows of `model` that the service accepts on `route` (the simulator's routing)."""
    return [row for row in CATALOG if row.model == model and (row.route is route or route in row.also_routes)]


def parse_size(value: str) -> tuple[int, int] | None:
    """'1280*720' -> (1280, 720); also accepts 'x' and 'X' as separator. None when it is not W*H."""
    for sep in ("*", "x", "X"):
        if sep in value:
            w, _, h = value.partition(sep)
            w, h = w.strip(), h.strip()
            # isdecimal, not isdigit: '²' is a digit int() refuses; 12 digits is far beyond any image
            if w.isdecimal() and h.isdecimal() and len(w) <= 12 and len(h) <= 12:
                return int(w), int(h)
    return None


def size_problem(rule: SizeRule, value: str) -> str | None:
    """Why `value` is not an allowed size under `rule`, or None when it is."""
    if value in rule.choices:
        return None
    listed = ", ".join(rule.choices)
    wh = parse_size(value)
    if not rule.free_form:
        return f"must be one of: {listed}"
    if wh is None:
        example = next((c for c in rule.choices if parse_size(c)), None)
        if example is None:
            side = round((rule.min_pixels or 1024 * 1024) ** 0.5)
            example = f"{side}*{side}"
        return f"must be W*H (e.g. {example})" + (f" or one of: {listed}" if listed else "")
    w, h = wh
    if w <= 0 or h <= 0:
        return "width and height must be positive"
    assert rule.min_pixels is not None and rule.max_pixels is not None
    pixels = w * h
    if not rule.min_pixels <= pixels <= rule.max_pixels:
        lo, hi = round(rule.min_pixels**0.5), round(rule.max_pixels**0.5)
        return f"total pixels must be between {lo}*{lo} and {hi}*{hi} (got {pixels:,})"
    if max(w, h) / min(w, h) > rule.max_aspect + 1e-9:
        return f"aspect ratio must be between 1:{rule.max_aspect:g} and {rule.max_aspect:g}:1"
    if rule.min_side is not None and min(w, h) < rule.min_side:
        return f"each side must be at least {rule.min_side} px"
    if rule.max_side is not None and max(w, h) > rule.max_side:
        return f"each side must be at most {rule.max_side} px"
    return None


def named_size(value: str, aspect: float = 1.0) -> tuple[int, int] | None:
    """The pixels a named size ("1K", "2K", "4K") gives at `aspect` (width / height): the budget kept, each side
    a multiple of 16. None for any other value. The service picks the aspect, so only `usage.size` is certain."""
    pixels = NAMED_SIZE_PIXELS.get(value)
    if pixels is None:
        return None
    aspect = min(8.0, max(1 / 8, aspect))
    width = round((pixels * aspect) ** 0.5 / 16) * 16
    return width, round(pixels / width / 16) * 16


def video_size(resolution: str, ratio: str) -> tuple[int, int] | None:
    """wan2.7-t2v: the pixel size of a resolution tier at a ratio ("1080P", "9:16" -> 1080*1920), or None."""
    tier = VIDEO_TIERS.get(resolution)
    if tier is None or ratio not in VIDEO_RATIOS:
        return None
    return parse_size(tier[VIDEO_RATIOS.index(ratio)])


def size_of(row: ModelMode, value: str | None) -> tuple[int, int]:
    """The pixel size a request will produce (named sizes and resolutions resolved), for results and the sim.

    A named size is a pixel budget whose aspect ratio the service chooses: here it is resolved as a square, an
    estimate only; the real size is the answer's `usage.size`."""
    if value:
        wh = parse_size(value)
        if wh:
            return wh
        named = named_size(value)
        if named:
            return named
        tiers = {"480P": (832, 480), "720P": (1280, 720), "1080P": (1920, 1080)}
        if value in tiers:
            return tiers[value]
    if row.default_size:
        return size_of(row, row.default_size)
    if row.default_resolution:
        return size_of(row, row.default_resolution)
    return (1280, 720) if row.is_video else (1024, 1024)
