"""The image check: fetch a URL safely, read the header, decode fully, and convert when needed.

The bot fetches pictures that sellers (or anyone who can type a URL) name, from the server it
runs on. So a fetch must not become a way into the internal network: every hop's host is
resolved here, each address is vetted (no private, loopback, link-local, multicast, reserved or
unspecified destination, IPv4 and IPv6, also when an IPv4 address hides inside an IPv6 one) and
the connection goes to the vetted address itself, so a DNS answer that changes between the check
and the connect (rebinding) cannot reach inside. Redirects are followed by hand for the same
reason. Sizes are capped while streaming, and the pixel count is read from the header before
any decoding, so a tiny file that claims gigapixels is refused without allocating it.
"""

from __future__ import annotations

import builtins
import io
import ipaddress
import logging
import os
import re
import socket
import ssl
import time
import warnings
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any

import httpx
from PIL import Image, UnidentifiedImageError

from handlers.diagnosis import ImageEvidence
from handlers.image_convert import (
    describe_mode,
    icc_description,
    is_srgb_profile,
    thumbnail_png,
    to_srgb_jpeg,
)
from handlers.image_fetch import INFLATABLE, BodyReader, DeadlineTransport, FetchDeadline, Resolver, TooLarge

logger = logging.getLogger(__name__)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MB = 1024 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "SellerDesk-ImageCheck/1.0"
_NOT_A_URL = "not a web address: give the image link starting with https://"
# Formats every marketplace accepts; others still get `ok` but with a warning.
_SAFE_FORMATS = frozenset({"JPEG", "PNG"})
# File signatures: a body that starts like an image but Pillow cannot identify is a corrupt file.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)
# Pillow raises these (and a few more) on corrupt data; the check turns them into verdicts.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError)


class ImageVerdict(StrEnum):
    OK = "ok"
    NOT_RGB = "not_rgb"
    HAS_ALPHA = "has_alpha"
    DAMAGED = "damaged"
    NOT_AN_IMAGE = "not_an_image"
    UNREACHABLE = "unreachable"
    TOO_LARGE = "too_large"
    BLOCKED = "blocked"


@dataclass
class ImageCheckResult:
    """One URL's check; `to_json()` is the `check-image --json` line of DESIGN.md section 3."""

    url: str
    verdict: ImageVerdict
    http_status: int | None = None
    content_type: str = ""
    format: str = ""
    mode: str = ""
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    elapsed_ms: float = 0.0
    detail: str = ""
    warnings: list[str] = field(default_factory=list)
    thumbnail_png: builtins.bytes | None = None
    # The fetch ran out of time (any step): what the seller reads says so, whatever the status.
    timed_out: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("thumbnail_png")
        data.pop("timed_out")  # not part of the --json contract: `detail` says it in words
        data["verdict"] = str(self.verdict)
        return data

    @property
    def ok(self) -> bool:
        """True when the picture is fine to publish as it is."""
        return self.verdict is ImageVerdict.OK

    def to_evidence(self) -> ImageEvidence:
        """The result as Diagnosis evidence (with its thumbnail), for handlers and evidence cards."""
        return ImageEvidence(
            url=self.url,
            verdict=str(self.verdict),
            http_status=self.http_status,
            content_type=self.content_type,
            format=self.format,
            mode=self.mode,
            width=self.width,
            height=self.height,
            bytes=self.bytes,
            detail=self.detail,
            warnings=list(self.warnings),
            thumbnail_png=self.thumbnail_png,
        )


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for fetching and reading one picture.

    Attributes:
        allow: hosts (``name`` or ``name:port``), IP addresses or CIDRs that may be fetched although
            they are private or loopback (``SELLERDESK_FETCH_ALLOW``).
        max_bytes: the download is aborted past this many bytes.
        connect_timeout: seconds to open a connection.
        read_timeout: seconds to wait for the next bytes.
        total_timeout: seconds for the whole fetch (connect, TLS, status line, headers, every
            redirect hop and the body), so a server dripping bytes cannot hold a worker.
        dns_timeout: seconds for each host name lookup (within the total).
        max_redirects: redirects followed before giving up.
        max_pixels: header pixel count above which the picture is refused without decoding.
        platform_max_bytes: above this a warning says some platforms reject the file.
        min_zoom_side: below this longest side a warning says platforms will not offer zoom.
        thumbnail_box: size of the evidence thumbnail.
    """

    allow: tuple[str, ...] = ()
    max_bytes: int = 10 * MB
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    dns_timeout: float = 5.0
    max_redirects: int = 5
    max_pixels: int = 50_000_000
    platform_max_bytes: int = 5 * MB
    min_zoom_side: int = 1000
    thumbnail_box: tuple[int, int] = (120, 120)  # the evidence card shows thumbnails at 120 px


class _Stop(Exception):
    """Ends a check early with a verdict (fetch refused, failed or over a limit)."""

    def __init__(
        self,
        verdict: ImageVerdict,
        detail: str,
        *,
        http_status: int | None = None,
        content_type: str = "",
        size: int | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(detail)
        self.verdict = verdict
        self.detail = detail
        self.http_status = http_status
        self.content_type = content_type
        self.size = size
        self.timed_out = timed_out


@dataclass(frozen=True)
class _Fetched:
    body: bytes
    http_status: int
    content_type: str


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    address: IPAddress
    port: int


def forbidden_reason(address: IPAddress) -> str | None:
    """Why an address must not be fetched ("loopback", "private", ...), or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            reason = forbidden_reason(embedded)
            if reason:
                return f"{reason} (inside {address})"
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "not public"),
    )
    return next((reason for hit, reason in checks if hit), None)


def _allow_entry_matches(entry: str, host: str, port: int, address: IPAddress) -> bool:
    entry = entry.strip().lower()
    if "/" in entry:
        try:
            return address in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    try:
        return ipaddress.ip_address(entry.strip("[]")) == address
    except ValueError:
        pass
    return entry in (host, f"{host}:{port}", f"[{host}]:{port}")


def redacted_url(url: str) -> str:
    """The URL without query string or credentials: signed links carry secrets in both."""
    try:
        parsed = httpx.URL(url)
        return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))
    except (httpx.InvalidURL, ValueError, TypeError):
        return "<not a URL>"


def _describe_content(body: bytes, content_type: str) -> str:
    head = body[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]:
        return f"an HTML page ({content_type or 'no content type'}), not an image: the link opens a web page"
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "an SVG drawing, not a picture platforms accept: export it as JPEG or PNG"
    for signature, kind in _SIGNATURES:
        if body.startswith(signature):
            return f"starts like a {kind} but cannot be read: the file is corrupt or lost"
    if head[:1] in (b"{", b"["):
        return f"JSON data ({content_type or 'no content type'}), not an image"
    return f"{content_type or 'unknown'} content that is not an image Pillow can read"


def _header_size(exc: Exception) -> str:
    claimed = re.search(r"\((\d+) pixels\)", str(exc))
    if claimed:
        return f"header claims {int(claimed.group(1)):,} pixels"
    return "header claims an enormous pixel count"


def _sixteen_bit_channels(image: Image.Image) -> bool:
    """True when the file stores 16 bits per channel (Pillow shows such RGB files as 8-bit RGB)."""
    for tile in getattr(image, "tile", None) or []:  # only files read from bytes have tiles
        raw = tile.args[0] if isinstance(tile.args, tuple) and tile.args else tile.args
        if isinstance(raw, str) and ";16" in raw:
            return True
    return False


class ImageChecker:
    """Checks image URLs (fetch, header, full decode) and converts pictures to sRGB JPEG.

    Args:
        policy: fetch and read limits, and the allow list.
        verify: how TLS certificates are verified (an SSL context with other roots, for tests).
        concurrency: how many URLs `check_many` fetches at once.
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        verify: ssl.SSLContext | bool = True,
        concurrency: int = 16,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._concurrency = max(1, concurrency)
        self._deadline = FetchDeadline()
        self._resolver = Resolver()
        limits = httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency)
        # Redirects are followed by the checker, never by the client (each hop is vetted).
        self._client = httpx.Client(
            timeout=self._timeout(),
            follow_redirects=False,
            # Proxies from the environment would connect elsewhere than the vetted address.
            trust_env=False,
            transport=DeadlineTransport(self._deadline, verify=verify, limits=limits),
        )
        # Pillow raises DecompressionBombError above twice Image.MAX_IMAGE_PIXELS but between its
        # limit and twice it only warns and goes on. warnings.catch_warnings cannot catch it per
        # call from worker threads (it swaps process-wide state), so the warning is made an error
        # for the process when a checker is built (idempotent): such a header is refused like
        # any other bomb, never decoded.
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        # Decoding is CPU and memory bound: fetch many at once, but decode on a few threads of
        # their own (one per core). Memory then follows the core count, not the fetch
        # concurrency: the C allocator keeps a heap per thread that touched big buffers.
        self._decoder = ThreadPoolExecutor(
            max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="image-decode"
        )

    def _timeout(self) -> httpx.Timeout:
        policy = self.policy
        return httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)

    def close(self) -> None:
        """Stop the decoding and resolver threads and close the HTTP client."""
        self._decoder.shutdown(wait=True)
        self._resolver.close()
        self._client.close()

    def __enter__(self) -> ImageChecker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- public API -------------------------------------------------------------------------

    def check(self, url: str) -> ImageCheckResult:
        """Fetch one URL and say whether the picture is fine for a marketplace.

        Args:
            url: the image link as the seller gave it.

        Returns:
            The result; never raises for bad input, network trouble or a broken file.
        """
        result, _ = self._examine(url, convert=False)
        return result

    def check_many(self, urls: Sequence[str]) -> list[ImageCheckResult]:
        """Check several URLs concurrently (at most `concurrency` at once); results in input order."""
        if not urls:
            return []
        workers = min(self._concurrency, len(urls))
        if workers == 1:
            return [self.check(url) for url in urls]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-check") as pool:
            return list(pool.map(self.check, urls))

    def convert_to_rgb(self, url: str) -> tuple[ImageCheckResult, bytes | None]:
        """Fetch the picture and convert it to an sRGB JPEG.

        CMYK goes through its embedded ICC profile when present, alpha is flattened onto white,
        palette, grayscale and 16-bit pictures become 8-bit RGB.

        Returns:
            The check of the original and the JPEG bytes, or None when the picture could not be
            read (unreachable, damaged, not an image, too large, blocked).
        """
        return self._examine(url, convert=True)

    # -- one URL ----------------------------------------------------------------------------

    def _examine(self, url: str, *, convert: bool) -> tuple[ImageCheckResult, bytes | None]:
        started = time.monotonic()
        result = ImageCheckResult(url=url, verdict=ImageVerdict.UNREACHABLE)
        converted: bytes | None = None
        try:
            fetched = self._fetch(url, started + self.policy.total_timeout)
            result.http_status = fetched.http_status
            result.content_type = fetched.content_type
            result.bytes = len(fetched.body)
            converted = self._decoder.submit(self._read, fetched, result, convert=convert).result()
        except _Stop as stop:
            result.verdict = stop.verdict
            result.detail = stop.detail
            result.http_status = stop.http_status if stop.http_status is not None else result.http_status
            result.content_type = stop.content_type or result.content_type
            result.bytes = stop.size if stop.size is not None else result.bytes
            result.timed_out = stop.timed_out
        except Exception as exc:  # noqa: BLE001 - a hostile file must end in a verdict, never a traceback
            logger.exception("image check failed unexpectedly for %s", redacted_url(url))
            result.verdict = ImageVerdict.DAMAGED
            result.detail = f"could not be read ({type(exc).__name__})"
        result.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        logger.debug("image check %s: %s %s", redacted_url(url), result.verdict, result.detail)
        return result, converted

    # -- fetching ---------------------------------------------------------------------------

    def _vet(self, url_text: str) -> _Target:
        """Parse, check the scheme, resolve the host and pick an address that may be fetched."""
        try:
            url = httpx.URL(url_text.strip())
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise _Stop(ImageVerdict.UNREACHABLE, _NOT_A_URL) from exc
        scheme = url.scheme.lower()
        if not scheme or (scheme in ("http", "https") and not url.host):
            raise _Stop(ImageVerdict.UNREACHABLE, _NOT_A_URL)
        if scheme not in ("http", "https"):
            raise _Stop(
                ImageVerdict.BLOCKED,
                f"{scheme}: links cannot be fetched; only http and https image links can be checked "
                "(upload the picture, then give its web link)",
            )
        host = url.host.lower()
        port = url.port or (443 if scheme == "https" else 80)
        addresses = self._resolve(host, port)
        refusal = ""
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is None or any(_allow_entry_matches(e, host, port, address) for e in self.policy.allow):
                return _Target(url=url, address=address, port=port)
            refusal = refusal or f"{host} is a {reason} address ({address})"
        raise _Stop(
            ImageVerdict.BLOCKED,
            f"{refusal}: the bot does not fetch from internal networks; "
            "use the picture's public link (or allow the host in SELLERDESK_FETCH_ALLOW)",
        )

    def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        left = self._deadline.left()
        timeout = self.policy.dns_timeout if left is None else min(self.policy.dns_timeout, left)
        try:
            infos = self._resolver.lookup(host, port, timeout)
        except TimeoutError as exc:
            detail = f"cannot resolve host {host} (DNS lookup timed out after {timeout:g} s)"
            raise _Stop(ImageVerdict.UNREACHABLE, detail, timed_out=True) from exc
        except (socket.gaierror, UnicodeError, OSError) as exc:
            raise _Stop(ImageVerdict.UNREACHABLE, f"cannot resolve host {host} (DNS lookup failed)") from exc
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise _Stop(ImageVerdict.UNREACHABLE, f"cannot resolve host {host} (no addresses)")
        return addresses

    def _request(self, target: _Target) -> httpx.Request:
        """A request to the vetted address itself, naming the host in Host (and TLS SNI)."""
        url = target.url
        headers = {
            "Host": url.netloc.decode("ascii"),
            "User-Agent": _USER_AGENT,
            "Accept": "image/*,*/*;q=0.5",
            # Compressed bodies would let a small download expand past the byte cap in memory.
            "Accept-Encoding": "identity",
        }
        extensions: dict[str, Any] = {}
        if url.scheme == "https":
            # Certificates are verified against the host name; a pooled TLS connection belongs
            # to the address, so it must not be reused for another host's name.
            extensions["sni_hostname"] = url.host
            headers["Connection"] = "close"
        pinned = url.copy_with(host=str(target.address))
        return self._client.build_request(
            "GET", pinned, headers=headers, extensions=extensions, timeout=self._timeout()
        )

    def _fetch(self, url: str, deadline: float) -> _Fetched:
        # One budget for everything: each lookup, connect, handshake and read gets what is left.
        with self._deadline.until(deadline):
            return self._follow(url, deadline)

    def _follow(self, url: str, deadline: float) -> _Fetched:
        current = url
        for _hop in range(self.policy.max_redirects + 1):
            target = self._vet(current)
            response = self._send(target)
            try:
                status = response.status_code
                location = response.headers.get("location")
                if status in _REDIRECT_STATUSES and location:
                    current = str(target.url.join(location))
                    continue
                content_type = response.headers.get("content-type", "").split(";")[0].strip()
                if status >= 400:
                    reason = response.reason_phrase or ""
                    raise _Stop(
                        ImageVerdict.UNREACHABLE,
                        f"HTTP {status} {reason}".strip(),
                        http_status=status,
                        content_type=content_type,
                    )
                body = self._read_body(response, status, content_type, deadline)
                return _Fetched(body=body, http_status=status, content_type=content_type)
            finally:
                response.close()
        raise _Stop(ImageVerdict.UNREACHABLE, f"too many redirects (more than {self.policy.max_redirects})")

    def _send(self, target: _Target) -> httpx.Response:
        try:
            return self._client.send(self._request(target), stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            left = self._deadline.left()
            if left is not None and left <= 0:  # the shared budget ran out, whichever step it was
                raise _Stop(ImageVerdict.UNREACHABLE, self._over_budget(), timed_out=True) from exc
            raise self._send_failure(target, exc) from exc

    def _over_budget(self) -> str:
        return f"timed out: the server took longer than {self.policy.total_timeout:g} s to send the picture"

    @staticmethod
    def _send_failure(target: _Target, exc: httpx.HTTPError) -> _Stop:
        if isinstance(exc, httpx.ConnectTimeout):
            return _Stop(ImageVerdict.UNREACHABLE, "timed out connecting", timed_out=True)
        if isinstance(exc, httpx.TimeoutException):
            return _Stop(ImageVerdict.UNREACHABLE, "timed out waiting for the server", timed_out=True)
        if isinstance(exc, httpx.ConnectError):
            text = str(exc).lower()
            if "refused" in text:
                detail = "connection refused"
            elif "certificate" in text:
                detail = f"TLS certificate not valid for {target.url.host}: {exc}"
            else:
                detail = f"could not connect: {exc}"
            return _Stop(ImageVerdict.UNREACHABLE, detail)
        return _Stop(ImageVerdict.UNREACHABLE, f"network error: {type(exc).__name__}")

    def _read_body(self, response: httpx.Response, status: int, content_type: str, deadline: float) -> bytes:
        cap = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _Stop(
                ImageVerdict.TOO_LARGE,
                f"{int(declared):,} bytes declared: over the {cap / MB:g} MB limit, not downloaded",
                http_status=status,
                content_type=content_type,
                size=int(declared),
            )
        coding = response.headers.get("content-encoding", "").strip().lower()
        if coding not in ("", "identity") and coding not in INFLATABLE:
            # We asked for identity; an encoding we cannot inflate in bounded steps is not read.
            raise _Stop(
                ImageVerdict.UNREACHABLE,
                f"the server sent the picture compressed ({coding}) although it was asked not to; "
                "it could not be read",
                http_status=status,
                content_type=content_type,
            )
        reader = BodyReader(cap, coding)

        def stop(verdict: ImageVerdict, detail: str, size: int, *, timed_out: bool = False) -> _Stop:
            return _Stop(
                verdict, detail, http_status=status, content_type=content_type, size=size, timed_out=timed_out
            )

        over_budget = f"timed out: the download took longer than {self.policy.total_timeout:g} s"
        try:
            # Raw chunks as they arrive: the cap counts bytes off the wire before any decoding,
            # and the deadline is checked while bytes drip.
            for chunk in response.iter_raw():
                reader.feed(chunk)
                if time.monotonic() > deadline:
                    raise stop(ImageVerdict.UNREACHABLE, over_budget, reader.size, timed_out=True)
        except TooLarge as over:
            detail = f"more than {cap / MB:g} MB: download stopped at {over.received:,} bytes"
            raise stop(ImageVerdict.TOO_LARGE, detail, over.received) from over
        except zlib.error as exc:
            raise stop(
                ImageVerdict.DAMAGED, f"the compressed ({coding}) answer is corrupt", reader.raw
            ) from exc
        except httpx.TimeoutException as exc:
            left = self._deadline.left()
            detail = over_budget if left is not None and left <= 0 else "timed out reading the picture"
            raise stop(ImageVerdict.UNREACHABLE, detail, reader.size, timed_out=True) from exc
        except httpx.HTTPError as exc:
            detail = f"connection broke while downloading ({type(exc).__name__})"
            raise stop(ImageVerdict.UNREACHABLE, detail, reader.size) from exc
        return reader.body()

    # -- reading ----------------------------------------------------------------------------

    def _read(self, fetched: _Fetched, result: ImageCheckResult, *, convert: bool) -> bytes | None:
        """Header, limits, full decode, verdict and warnings (on a decoding thread).

        Returns:
            The picture as an sRGB JPEG when `convert` and it could be read, else None.
        """
        body = fetched.body
        if not body:
            raise _Stop(ImageVerdict.NOT_AN_IMAGE, "empty response: no picture data")
        try:
            image = Image.open(io.BytesIO(body))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _Stop(
                ImageVerdict.TOO_LARGE, f"{_header_size(exc)}: refused without decoding (decompression bomb)"
            ) from exc
        except (UnidentifiedImageError, *_DECODE_ERRORS) as exc:
            raise _Stop(ImageVerdict.NOT_AN_IMAGE, _describe_content(body, fetched.content_type)) from exc
        width, height = image.size
        result.format = image.format or ""
        result.mode = image.mode
        result.width, result.height = width, height
        if width * height > self.policy.max_pixels:
            image.close()
            raise _Stop(
                ImageVerdict.TOO_LARGE,
                f"{width * height:,} pixels ({width}x{height}): over the "
                f"{self.policy.max_pixels / 1e6:g} MP limit, refused without decoding",
            )
        result.warnings = self._warnings(image, len(body))
        try:
            if not convert and image.format == "JPEG":
                # Scaled JPEG decoding still reads every byte (so truncation shows) but
                # allocates a fraction of the pixels; the thumbnail needs no more.
                box = self.policy.thumbnail_box
                image.draft(None, (box[0] * 2, box[1] * 2))
            image.load()
        except _DECODE_ERRORS as exc:
            image.close()
            raise _Stop(
                ImageVerdict.DAMAGED,
                f"{result.format or 'image'} data is cut short or corrupt ({exc}): "
                "it displays partly or split",
            ) from exc
        with image:
            try:
                result.thumbnail_png = thumbnail_png(image, box=self.policy.thumbnail_box)
            except _DECODE_ERRORS as exc:
                # The picture decoded, so the verdict stands; only the evidence lacks a preview.
                logger.warning("no thumbnail for %s: %s", redacted_url(result.url), exc)
            result.verdict, result.detail = self._verdict(image)
            if not convert:
                return None
            try:
                return to_srgb_jpeg(image)
            except _DECODE_ERRORS as exc:
                logger.warning("conversion failed for %s: %s", redacted_url(result.url), exc)
                result.detail = f"{result.detail}; conversion failed: {exc}".lstrip("; ")
                return None

    @staticmethod
    def _verdict(image: Image.Image) -> tuple[ImageVerdict, str]:
        mode = image.mode
        if mode == "RGB":
            return ImageVerdict.OK, ""
        if mode in ("RGBA", "RGBa", "PA"):
            lowest_alpha = image.getchannel("A").getextrema()[0]
            if isinstance(lowest_alpha, int | float) and lowest_alpha < 255:
                return ImageVerdict.HAS_ALPHA, f"{mode} with transparent areas: flatten onto white"
            return ImageVerdict.HAS_ALPHA, f"{mode} with an alpha channel (fully opaque): flatten onto white"
        return ImageVerdict.NOT_RGB, f"colour mode {describe_mode(mode)}, not RGB: convert to RGB"

    def _warnings(self, image: Image.Image, size: int) -> list[str]:
        policy = self.policy
        warnings: list[str] = []
        longest = max(image.size)
        if longest < policy.min_zoom_side:
            warnings.append(
                f"small: {image.size[0]}x{image.size[1]} px; platforms want {policy.min_zoom_side} px "
                "on the longest side for zoom"
            )
        if size > policy.platform_max_bytes:
            warnings.append(
                f"{size / MB:.1f} MB: over the {policy.platform_max_bytes / MB:g} MB limit of some platforms"
            )
        if image.format == "JPEG" and (image.info.get("progressive") or image.info.get("progression")):
            warnings.append("progressive JPEG: some platforms reject or re-encode it")
        icc = image.info.get("icc_profile")
        if icc and not is_srgb_profile(icc):
            name = icc_description(icc) or "unreadable profile"
            warnings.append(f"ICC profile '{name}', not sRGB: colours may shift unless converted to sRGB")
        if image.format and image.format not in _SAFE_FORMATS:
            warnings.append(f"{image.format} format: not every platform accepts it; JPEG or PNG is safest")
        if image.mode in ("RGB", "RGBA") and _sixteen_bit_channels(image):
            warnings.append("16 bits per channel: some platforms reject it; the converted file is 8-bit")
        frames = int(getattr(image, "n_frames", 1) or 1)
        if frames > 1:
            warnings.append(f"animated ({frames} frames): platforms show only the first frame")
        return warnings
