"""Temporary file uploads: getPolicy credentials, the OSS form POST, and `oss://` resolution.

The flow is the real one (`docs/protocol.md` §8): `GET /api/v1/uploads?action=getPolicy&model=M` hands out
a signed policy for an `upload_dir` and an `upload_host` (here: the simulator itself), the client POSTs a
multipart form there without auth (`file` last: like OSS, fields after it are ignored), and the object is
then usable as `oss://<key>` by the same model for `upload_ttl`. Uploaded bytes are kept up to
`upload_keep_bytes` (oldest dropped first; their metadata stays, so their keys still resolve).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from qwentui.sim.config import SimConfig
from qwentui.sim.errors import OssError

BUCKET = "dashscope-file-mgr"
UPLOAD_PATH = "/oss"  # the upload host's path on the simulator


@dataclass
class Policy:
    upload_dir: str
    model: str
    expires: float
    policy: str  # base64 JSON, as sent to the client
    signature: str


@dataclass
class Upload:
    key: str
    model: str
    size: int
    sha256: str
    content_type: str
    filename: str
    uploaded: float
    data: bytes | None  # None once evicted to bound memory


class Uploads:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.objects: OrderedDict[str, Upload] = OrderedDict()
        self._policies: dict[str, Policy] = {}
        self._secret = secrets.token_bytes(16)
        self._access_key_id = "LTAI5sim" + secrets.token_hex(6)
        self._kept = 0
        self._lock = threading.Lock()

    # ---- getPolicy ----------------------------------------------------------------------------------------

    def issue(self, model: str, account: str, now: float, upload_host: str, dir_id: str) -> dict[str, object]:
        """The `data` of a getPolicy answer."""
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        upload_dir = f"dashscope-instant/{account}/{day}/{dir_id}"
        expires = now + self.config.policy_ttl
        max_bytes = self.config.max_upload_mb * 1024 * 1024
        doc = {
            "expiration": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conditions": [
                {"bucket": BUCKET},
                ["starts-with", "$key", upload_dir],
                ["content-length-range", 0, max_bytes],
            ],
        }
        policy = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
        signature = self._sign(policy)
        with self._lock:
            self._prune_policies(now)
            self._policies[upload_dir] = Policy(upload_dir, model, expires, policy, signature)
        return {
            "policy": policy,
            "signature": signature,
            "upload_dir": upload_dir,
            "upload_host": upload_host,
            "expire_in_seconds": int(self.config.policy_ttl),
            "max_file_size_mb": self.config.max_upload_mb,
            "capacity_limit_mb": 999999999,
            "oss_access_key_id": self._access_key_id,
            "x_oss_object_acl": "private",
            "x_oss_forbid_overwrite": "true",
        }

    def _sign(self, policy: str) -> str:
        return base64.b64encode(hmac.new(self._secret, policy.encode(), hashlib.sha1).digest()).decode()

    def _prune_policies(self, now: float) -> None:
        if len(self._policies) > 1000:  # policies live minutes; only look when there are many
            for d in [d for d, p in self._policies.items() if p.expires < now]:
                del self._policies[d]

    # ---- the OSS form POST --------------------------------------------------------------------------------

    def store(self, fields: Mapping[str, str], data: bytes, filename: str, content_type: str, now: float) -> Upload:
        """Check the form like OSS and keep the object, or raise OssError."""
        for name in ("OSSAccessKeyId", "policy", "Signature", "key"):
            if not fields.get(name):
                raise OssError(400, "InvalidArgument", f"The form field '{name}' is missing or empty.")
        if fields["OSSAccessKeyId"] != self._access_key_id:
            raise OssError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist.")
        if not hmac.compare_digest(fields["Signature"], self._sign(fields["policy"])):
            raise OssError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        key = fields["key"]
        with self._lock:
            policy = next((p for p in self._policies.values() if p.policy == fields["policy"]), None)
        if policy is None or now > policy.expires:
            raise OssError(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        if not key.startswith(policy.upload_dir + "/") or key.endswith("/"):
            raise OssError(
                403,
                "AccessDenied",
                f'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "{policy.upload_dir}"]',
            )
        if len(data) > self.config.max_upload_mb * 1024 * 1024:
            raise OssError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
        with self._lock:
            if key in self.objects and fields.get("x-oss-forbid-overwrite", "").lower() == "true":
                raise OssError(
                    409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten."
                )
            upload = Upload(
                key, policy.model, len(data), hashlib.sha256(data).hexdigest(), content_type, filename, now, data
            )
            old = self.objects.pop(key, None)
            if old is not None and old.data is not None:
                self._kept -= old.size
            self.objects[key] = upload
            self._kept += len(data)
            self._evict()
        return upload

    def _evict(self) -> None:
        for obj in self.objects.values():
            if self._kept <= self.config.upload_keep_bytes:
                break
            if obj.data is not None:
                self._kept -= obj.size
                obj.data = None

    # ---- oss:// -------------------------------------------------------------------------------------------

    def problem(self, url: str, model: str, now: float) -> str | None:
        """Why `oss://<key>` cannot be used by `model` now, or None."""
        obj = self.objects.get(url.removeprefix("oss://"))
        if obj is None:
            return "the oss resource does not exist; upload it first (getPolicy + POST to upload_host)."
        if now - obj.uploaded > self.config.upload_ttl:
            return "the oss resource has expired; temporary files are valid for 48 hours."
        if obj.model != model:
            return (
                f"the oss resource was uploaded for model {obj.model}; temporary files can only be "
                "used with the model they were uploaded for."
            )
        return None

    def get(self, url_or_key: str) -> Upload | None:
        return self.objects.get(url_or_key.removeprefix("oss://"))
