"""Captions from a vision LLM behind any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, LM Studio).

Images are downscaled to `max_side` and sent inline as JPEG data URLs. Rate limits (429), server errors (5xx),
timeouts and dropped connections are retried with exponential backoff (a server's Retry-After is honoured); a
rejected key (401/403) or an unknown model stops the job with a clear message. An endpoint that has never answered
and refuses the connection (no server there, a name that does not resolve, no network) stops it at once: retrying
would only make the user wait for the same message. The API key is read from an
environment variable, never stored in job parameters, and scrubbed from every message.
"""

from __future__ import annotations

import asyncio
import base64
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image, ImageOps

from loratui.errors import InputError, RemoteError
from loratui.fsutil import open_regular
from loratui.redact import redact_text, redact_url

DEFAULT_PROMPT = (
    "Write a caption for this image to train an image generation model. Describe the subject, clothing, pose, "
    "setting, lighting and style in one paragraph of plain prose. Do not start with 'The image shows'."
)
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
PLACEHOLDERS = ("{tags}", "{trigger}", "{filename}", "{frames}", "{media}", "{length}")
JPEG_PREFIX = "data:image/jpeg;base64,"


def render_prompt(template: str, *, tags: str, trigger: str, filename: str, frames: int | None = None,
                  media: str = "image", length: str = "long") -> str:
    """Fill {tags}, {trigger}, {filename}, {frames} (frames sent of a clip), {media} ('image' or 'video clip') and
    {length}; other braces are left as written."""
    values = {"{tags}": tags, "{trigger}": trigger, "{filename}": filename,
              "{frames}": "" if frames is None else str(frames), "{media}": media, "{length}": length}
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template


def jpeg_data_url(image: Image.Image, max_side: int, quality: int = 90) -> str:
    """An RGB image shrunk to fit `max_side`, as a JPEG data URL."""
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return JPEG_PREFIX + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_data_url(path: Path, max_side: int, quality: int = 90, root: Path | None = None) -> str:
    """The image, upright, on white, shrunk to fit `max_side`, as a JPEG data URL.

    Opened by ``fsutil.open_regular``: inside `root` (the dataset) when given, so no file outside the dataset is
    ever sent to the endpoint.
    """
    handle, _ = open_regular(path, root=root, follow_links_inside=root is not None)
    with handle, Image.open(handle) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA") or "transparency" in image.info:
            image = image.convert("RGBA")
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.split()[3])
            image = background
        elif image.mode != "RGB":
            image = image.convert("RGB")
        return jpeg_data_url(image, max_side, quality)


def video_frames_url(frame_urls: list[str]) -> str:
    """JPEG frame data URLs as one vLLM video data URL: ``data:video/jpeg;base64,<frame 1>,<frame 2>,...``
    (vLLM's ``VideoMediaIO`` splits it on commas and decodes each part as a JPEG)."""
    parts = []
    for url in frame_urls:
        if not url.startswith(JPEG_PREFIX):
            raise ValueError("video frames must be JPEG data URLs")
        parts.append(url[len(JPEG_PREFIX):])
    return "data:video/jpeg;base64," + ",".join(parts)


@dataclass
class Usage:
    """Token counts summed over all requests."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    retries: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, usage) -> None:
        if usage is not None:
            self.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
            self.completion_tokens += getattr(usage, "completion_tokens", 0) or 0


class ImageFailed(Exception):
    """This image got no caption (the job goes on; a re-run retries it)."""


def read_api_key(env_var: str | None, environ: dict | None = None) -> str | None:
    """The key from `env_var`; InputError if a variable was named explicitly but is unset."""
    import os

    environ = os.environ if environ is None else environ
    name = env_var or DEFAULT_KEY_ENV
    key = environ.get(name, "").strip()
    if not key and env_var and env_var != DEFAULT_KEY_ENV:
        raise InputError(f"environment variable {env_var} is not set (it should hold the API key)")
    return key or None


class VisionClient:
    """One OpenAI-compatible endpoint and model; `caption(prompt, data_url)` -> text."""

    def __init__(self, base_url: str, model: str, api_key: str | None, *, timeout_s: float = 120.0,
                 retries: int = 5, backoff_s: float = 1.0, max_tokens: int = 400,
                 temperature: float | None = None, key_source: str = DEFAULT_KEY_ENV,
                 on_retry: Callable[[str], None] | None = None) -> None:
        from openai import AsyncOpenAI

        if not base_url.startswith(("http://", "https://")):
            raise InputError(f"--base-url must be an http(s) URL, got {redact_url(base_url)!r}")
        self.base_url = base_url.rstrip("/")
        self.shown_url = redact_url(self.base_url)
        """The endpoint for messages: credentials in it (user:token@, ?key=) are masked."""
        self.model = model
        self._key = api_key
        self.retries, self.backoff_s = retries, backoff_s
        self.max_tokens, self.temperature = max_tokens, temperature
        self.usage = Usage()
        self.key_source = key_source
        self.on_retry = on_retry
        """Hears a line before each back-off sleep ("cannot reach URL (connection failed); retry 2/5 in 4 s")."""
        self.reached = False
        """The endpoint answered once (with anything): from then on a failed connection is retried."""
        # Local servers (Ollama, vLLM without --api-key) accept any key; the client insists on one.
        self._client = AsyncOpenAI(base_url=self.base_url, api_key=api_key or "no-key", max_retries=0,
                                   timeout=timeout_s)

    def scrub(self, text: str) -> str:
        """`text` with the API key and credentials in URLs masked."""
        text = redact_text(text)
        return text.replace(self._key, "***") if self._key else text

    async def close(self) -> None:
        await self._client.close()

    async def caption(self, prompt: str, data_url: str | list[str], *, as_video: bool = False) -> str:
        """The model's caption for one image, or for the frames of one clip (several data URLs, in order);
        RemoteError (fatal) or ImageFailed (this item only).

        Frames go as one ``image_url`` part each, after the prompt (any vision endpoint takes that); `as_video`
        sends them as one vLLM ``video_url`` part instead (vLLM treats them as a video: Qwen-VL's temporal
        encoding)."""
        import openai

        urls = [data_url] if isinstance(data_url, str) else list(data_url)
        if as_video:
            media = [{"type": "video_url", "video_url": {"url": video_frames_url(urls)}}]
        else:
            media = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
        messages = [{"role": "user", "content": [{"type": "text", "text": prompt}, *media]}]
        extra = {} if self.temperature is None else {"temperature": self.temperature}
        attempt = 0
        while True:
            self.usage.requests += 1
            try:
                response = await self._client.chat.completions.create(
                    model=self.model, messages=messages, max_tokens=self.max_tokens, **extra)
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                unset = "" if self._key else " (it is not set)"
                raise RemoteError(f"{self.shown_url} rejected the API key (HTTP {exc.status_code})",
                                  hint=f"check the key in ${self.key_source}{unset}") from None
            except openai.NotFoundError as exc:
                raise await self._model_error(exc) from None
            except openai.BadRequestError as exc:
                self.reached = True
                text = self.scrub(_message(exc))
                if "model" in text.lower() and ("not found" in text.lower() or "exist" in text.lower()):
                    raise await self._model_error(exc) from None
                raise ImageFailed(f"HTTP 400: {text}") from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
                if isinstance(exc, openai.APIStatusError):
                    self.reached = True
                elif not self.reached and not isinstance(exc, openai.APITimeoutError):
                    raise RemoteError(f"cannot reach {self.shown_url} ({_connect_reason(exc)})",
                                      hint="check --base-url and that the server runs; this machine may have no "
                                           "network") from None
                if attempt >= self.retries:
                    tries = f"after {attempt + 1} tries"
                    if isinstance(exc, openai.APIConnectionError):
                        why = "timed out" if isinstance(exc, openai.APITimeoutError) else "connection failed"
                        raise RemoteError(f"cannot reach {self.shown_url} ({why} {tries})") from None
                    raise ImageFailed(f"{_status(exc)} {tries}: {self.scrub(_message(exc))}") from None
                delay = self._delay(exc, attempt)
                if self.on_retry is not None:
                    self.on_retry(self._retry_line(exc, attempt + 1, delay))
                await asyncio.sleep(delay)
                attempt += 1
                self.usage.retries += 1
                continue
            except openai.APIStatusError as exc:
                self.reached = True
                raise ImageFailed(f"{_status(exc)}: {self.scrub(_message(exc))}") from None
            self.reached = True
            self.usage.add(getattr(response, "usage", None))
            choices = getattr(response, "choices", None) or []
            text = (choices[0].message.content or "").strip() if choices else ""
            if not text:
                raise ImageFailed("the model returned an empty caption")
            return text

    def _retry_line(self, exc, retry: int, delay: float) -> str:
        import openai

        if isinstance(exc, openai.APIConnectionError):
            why = "timed out" if isinstance(exc, openai.APITimeoutError) else "connection failed"
            what = f"cannot reach {self.shown_url} ({why})"
        else:
            what = f"{self.shown_url} answered {_status(exc)}"
        return f"{what}; retry {retry}/{self.retries} in {delay:.0f} s"

    def _delay(self, exc, attempt: int) -> float:
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), 60.0)
            except ValueError:
                pass
        return self.backoff_s * (2 ** attempt) * (1 + random.random() * 0.1)

    async def _model_error(self, exc) -> RemoteError:
        available = await self.list_models()
        hint = f"models served there: {', '.join(available[:20])}" if available else \
            "check --model and that --base-url ends with the API root (e.g. .../v1)"
        return RemoteError(f"model {self.model!r} was not found at {self.shown_url} ({_status(exc)})", hint=hint)

    async def list_models(self) -> list[str]:
        """Model ids the endpoint lists ([] when it does not support listing)."""
        try:
            page = await self._client.models.list()
            return sorted(m.id for m in page.data)
        except Exception:
            return []


def _connect_reason(exc) -> str:
    """Why a connection failed, from the transport's exception ("[Errno 111] Connection refused")."""
    cause = exc.__cause__
    while cause is not None and cause.__cause__ is not None and not str(cause):
        cause = cause.__cause__
    text = str(cause).splitlines()[0] if cause is not None and str(cause) else ""
    return f"connection failed: {redact_text(text)}" if text else "connection failed"


def _status(exc) -> str:
    code = getattr(exc, "status_code", None)
    return f"HTTP {code}" if code else type(exc).__name__


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return str(getattr(exc, "message", exc))
