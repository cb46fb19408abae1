"""The image check against a real HTTP server on 127.0.0.1 serving pictures made with Pillow."""

from __future__ import annotations

import io
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from handlers.image_check import FetchPolicy, ImageChecker, ImageCheckResult, ImageVerdict, forbidden_reason
from tests.image_server import ImageServer, start_image_server


@pytest.fixture
def checker(image_host: ImageServer) -> Iterator[ImageChecker]:
    with ImageChecker(image_host.policy()) as checker:
        yield checker


def _check(checker: ImageChecker, host: ImageServer, path: str) -> ImageCheckResult:
    return checker.check(host.url(path))


@pytest.mark.parametrize(
    ("path", "verdict", "fmt", "mode", "detail_has"),
    [
        ("/rgb.jpg", ImageVerdict.OK, "JPEG", "RGB", ""),
        ("/rgb.png", ImageVerdict.OK, "PNG", "RGB", ""),
        ("/cmyk.jpg", ImageVerdict.NOT_RGB, "JPEG", "CMYK", "CMYK"),
        ("/cmyk-icc.jpg", ImageVerdict.NOT_RGB, "JPEG", "CMYK", "CMYK"),
        ("/cmyk.tif", ImageVerdict.NOT_RGB, "TIFF", "CMYK", "CMYK"),
        ("/palette.png", ImageVerdict.NOT_RGB, "PNG", "P", "palette"),
        ("/palette.gif", ImageVerdict.NOT_RGB, "GIF", "P", "palette"),
        ("/gray.jpg", ImageVerdict.NOT_RGB, "JPEG", "L", "grayscale"),
        ("/palette-trns.png", ImageVerdict.NOT_RGB, "PNG", "P", "palette"),
        ("/gray-trns.png", ImageVerdict.NOT_RGB, "PNG", "L", "grayscale"),
        ("/rgb-trns.png", ImageVerdict.OK, "PNG", "RGB", ""),
        ("/la.png", ImageVerdict.NOT_RGB, "PNG", "LA", "grayscale with alpha"),
        ("/16bit.png", ImageVerdict.NOT_RGB, "PNG", "I;16", "16-bit"),
        ("/16bit.tif", ImageVerdict.NOT_RGB, "TIFF", "I;16", "16-bit"),
        ("/rgba.png", ImageVerdict.HAS_ALPHA, "PNG", "RGBA", "transparent"),
        ("/truncated.jpg", ImageVerdict.DAMAGED, "JPEG", "RGB", "split"),
        ("/truncated.png", ImageVerdict.DAMAGED, "PNG", "RGB", "split"),
    ],
)
def test_pictures_get_the_verdict_a_platform_would_give(
    checker: ImageChecker,
    image_host: ImageServer,
    path: str,
    verdict: ImageVerdict,
    fmt: str,
    mode: str,
    detail_has: str,
) -> None:
    result = _check(checker, image_host, path)
    assert result.verdict is verdict, result.detail
    assert (result.format, result.mode) == (fmt, mode)
    assert detail_has in result.detail
    assert result.http_status == 200
    assert result.bytes == len(image_host.images[path][0])
    assert result.width and result.height
    if verdict is ImageVerdict.DAMAGED:
        assert result.thumbnail_png is None
    else:
        thumbnail = Image.open(io.BytesIO(result.thumbnail_png or b""))
        assert thumbnail.format == "PNG" and thumbnail.mode == "RGB"
        assert max(thumbnail.size) <= 120


def test_a_good_large_baseline_srgb_jpeg_has_no_warnings(
    checker: ImageChecker, image_host: ImageServer
) -> None:
    result = _check(checker, image_host, "/srgb-icc.jpg")
    assert result.verdict is ImageVerdict.OK
    assert (result.width, result.height) == (1200, 900)
    assert result.warnings == []
    assert result.content_type == "image/jpeg"


def test_warnings_name_the_secondary_problems(image_host: ImageServer) -> None:
    with ImageChecker(image_host.policy(platform_max_bytes=20_000)) as checker:
        small = checker.check(image_host.url("/small.jpg"))
        progressive = checker.check(image_host.url("/progressive.jpg"))
        heavy = checker.check(image_host.url("/rgb.jpg"))
        deep = checker.check(image_host.url("/rgb48.png"))
        press = checker.check(image_host.url("/cmyk-icc.jpg"))
        tiff = checker.check(image_host.url("/cmyk.tif"))
    assert small.verdict is ImageVerdict.OK
    assert any("300x200" in w and "zoom" in w for w in small.warnings)
    assert any("progressive JPEG" in w for w in progressive.warnings)
    assert any("over the" in w and "MB limit" in w for w in heavy.warnings)
    assert any("'Test press CMYK', not sRGB" in w for w in press.warnings)
    assert any("TIFF format" in w for w in tiff.warnings)
    assert (deep.verdict, deep.mode) == (ImageVerdict.OK, "RGB")
    assert any("16 bits per channel" in w for w in deep.warnings)
    assert not any("16 bits" in w for w in heavy.warnings)


@pytest.mark.parametrize(
    ("path", "detail_has"),
    [
        ("/page.html", "HTML page"),
        ("/data.json", "JSON"),
        ("/drawing.svg", "SVG drawing"),
        ("/corrupt.png", "starts like a PNG"),
        ("/empty.jpg", "empty"),
    ],
)
def test_content_that_is_not_a_picture_says_what_it_is(
    checker: ImageChecker, image_host: ImageServer, path: str, detail_has: str
) -> None:
    result = _check(checker, image_host, path)
    assert result.verdict is ImageVerdict.NOT_AN_IMAGE
    assert detail_has in result.detail
    assert result.thumbnail_png is None


def test_missing_picture_is_unreachable_with_the_status(
    checker: ImageChecker, image_host: ImageServer
) -> None:
    result = _check(checker, image_host, "/gone/product.jpg")
    assert result.verdict is ImageVerdict.UNREACHABLE
    assert result.http_status == 404
    assert result.detail.startswith("HTTP 404")


def test_refused_connection_and_unknown_host_are_unreachable(checker: ImageChecker) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    refused = checker.check(f"http://127.0.0.1:{closed_port}/a.jpg")
    unknown = checker.check("http://no-such-host.invalid/a.jpg")
    assert (refused.verdict, refused.detail) == (ImageVerdict.UNREACHABLE, "connection refused")
    assert unknown.verdict is ImageVerdict.UNREACHABLE
    assert "cannot resolve host no-such-host.invalid" in unknown.detail


def test_redirects_are_followed_up_to_five(checker: ImageChecker, image_host: ImageServer) -> None:
    five = _check(checker, image_host, "/hops/4")  # 4 hops + the last one to the picture = 5 redirects
    six = _check(checker, image_host, "/hops/5")
    assert five.verdict is ImageVerdict.OK and five.format == "JPEG"
    assert six.verdict is ImageVerdict.UNREACHABLE
    assert "too many redirects" in six.detail
    assert "/rgb.jpg" not in image_host.requests[image_host.requests.index("/hops/5") :]


@pytest.mark.parametrize(
    ("path", "detail_has"),
    [
        ("/redirect/private", "private address (10.0.0.1)"),
        ("/redirect/metadata", "link-local address (169.254.169.254)"),
        ("/redirect/mapped", "private (inside ::ffff:"),
        ("/redirect/file", "only http and https"),
    ],
)
def test_a_redirect_cannot_reach_inside(
    checker: ImageChecker, image_host: ImageServer, path: str, detail_has: str
) -> None:
    result = _check(checker, image_host, path)
    assert result.verdict is ImageVerdict.BLOCKED
    assert detail_has in result.detail


def test_loopback_is_blocked_without_the_allow_list(image_host: ImageServer) -> None:
    with ImageChecker(FetchPolicy()) as checker:
        by_address = checker.check(image_host.url("/rgb.jpg"))
        by_name = checker.check(f"http://localhost:{image_host.port}/rgb.jpg")
    for result in (by_address, by_name):
        assert result.verdict is ImageVerdict.BLOCKED
        assert "loopback" in result.detail and "SELLERDESK_FETCH_ALLOW" in result.detail
    assert image_host.requests == []  # nothing was ever sent


def test_allow_list_by_cidr_host_and_port(image_host: ImageServer) -> None:
    for allow, verdict in [
        (("127.0.0.0/8",), ImageVerdict.OK),
        ((f"127.0.0.1:{image_host.port}",), ImageVerdict.OK),
        (("127.0.0.1:1",), ImageVerdict.BLOCKED),
        (("10.0.0.0/8",), ImageVerdict.BLOCKED),
    ]:
        with ImageChecker(FetchPolicy(allow=allow)) as checker:
            assert checker.check(image_host.url("/small.jpg")).verdict is verdict, allow


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not public"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback (inside ::ffff:"),
        ("2002:a9fe:a9fe::1", "link-local (inside 2002:a9fe:a9fe::1)"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_forbidden_addresses(address: str, reason: str | None) -> None:
    found = forbidden_reason(ipaddress.ip_address(address))
    if reason is None:
        assert found is None
    else:
        assert found is not None and found.startswith(reason)


@pytest.mark.parametrize(
    ("url", "verdict", "detail_has"),
    [
        ("not a url", ImageVerdict.UNREACHABLE, "not a web address"),
        ("", ImageVerdict.UNREACHABLE, "not a web address"),
        ("example.com/a.jpg", ImageVerdict.UNREACHABLE, "https://"),
        ("http://", ImageVerdict.UNREACHABLE, "not a web address"),
        ("file:///etc/passwd", ImageVerdict.BLOCKED, "file: links cannot be fetched"),
        ("ftp://example.com/a.jpg", ImageVerdict.BLOCKED, "ftp: links cannot be fetched"),
        ("javascript:alert(1)", ImageVerdict.BLOCKED, "only http and https"),
        ("http://[::1/a.jpg", ImageVerdict.UNREACHABLE, "not a web address"),
    ],
)
def test_bad_links_get_a_friendly_verdict(
    checker: ImageChecker, url: str, verdict: ImageVerdict, detail_has: str
) -> None:
    result = checker.check(url)
    assert result.verdict is verdict
    assert detail_has in result.detail
    assert result.to_json()["url"] == url


def test_decompression_bombs_are_refused_before_decoding(
    checker: ImageChecker, image_host: ImageServer
) -> None:
    bomb = _check(checker, image_host, "/bomb.png")
    big = _check(checker, image_host, "/bigpixels.png")
    assert bomb.verdict is ImageVerdict.TOO_LARGE
    assert "10,000,000,000 pixels" in bomb.detail
    # 64 MP is under Pillow's own limit; the policy's limit refuses it from the header alone. Had it
    # been decoded, the 8x8 data behind the header would have made it `damaged`.
    assert big.verdict is ImageVerdict.TOO_LARGE
    assert (big.width, big.height) == (8000, 8000)
    assert "64,000,000 pixels" in big.detail and "refused without decoding" in big.detail


def test_pillows_own_limits_are_verdicts_not_warnings(image_host: ImageServer) -> None:
    # With the policy's limit raised, Pillow's limits apply: a warning range, then an error.
    with (
        ImageChecker(image_host.policy(max_pixels=10**12)) as checker,
        warnings.catch_warnings(record=True) as escaped,
    ):
        warned = checker.check(image_host.url("/warnpixels.png"))
        bomb = checker.check(image_host.url("/bomb.png"))
    assert [str(w.message) for w in escaped] == []
    assert (warned.verdict, bomb.verdict) == (ImageVerdict.TOO_LARGE, ImageVerdict.TOO_LARGE)
    assert "100,000,000 pixels" in warned.detail and "decompression bomb" in warned.detail


def test_an_endless_body_is_cut_at_the_cap(image_host: ImageServer) -> None:
    cap = 1024 * 1024
    with ImageChecker(image_host.policy(max_bytes=cap)) as checker:
        result = checker.check(image_host.url("/endless"))
    assert result.verdict is ImageVerdict.TOO_LARGE
    assert result.bytes is not None and cap < result.bytes <= cap + 64 * 1024
    assert "download stopped" in result.detail
    # The server's endless loop ended because the checker hung up.
    assert image_host.finished_event("/endless").wait(10)


def test_declared_sizes_over_the_cap_are_not_downloaded(
    checker: ImageChecker, image_host: ImageServer
) -> None:
    declared = _check(checker, image_host, "/endless/declared-20mb")
    huge = _check(checker, image_host, "/declared-2gb")
    assert declared.verdict is ImageVerdict.TOO_LARGE
    assert declared.bytes == 20 * 1024 * 1024
    assert "not downloaded" in declared.detail
    assert huge.verdict is ImageVerdict.TOO_LARGE and huge.bytes == 2 * 1024**3
    assert image_host.finished_event("/declared-2gb").wait(10)


def test_a_lying_content_length_reads_only_what_was_declared(
    checker: ImageChecker, image_host: ImageServer
) -> None:
    result = _check(checker, image_host, "/endless/lying-length")
    assert result.bytes == 1000
    assert result.verdict is ImageVerdict.NOT_AN_IMAGE


def test_slow_servers_time_out(image_host: ImageServer) -> None:
    with ImageChecker(image_host.policy(read_timeout=0.2, total_timeout=0.5)) as checker:
        slow = checker.check(image_host.url("/slow"))
        drip = checker.check(image_host.url("/drip"))
    assert slow.verdict is ImageVerdict.UNREACHABLE and "timed out" in slow.detail
    assert drip.verdict is ImageVerdict.UNREACHABLE and "longer than 0.5 s" in drip.detail


def test_check_many_runs_concurrently_and_keeps_the_order(image_host: ImageServer) -> None:
    # Nine pictures of one product behind a gate that opens only when all nine wait together:
    # checked one by one, the gate would break and answer 503.
    image_host.gate = threading.Barrier(9, timeout=5)
    urls = [image_host.url(f"/gate/{i}") for i in range(9)]
    with ImageChecker(image_host.policy(), concurrency=16) as checker:
        results = checker.check_many(urls)
    assert [r.url for r in results] == urls
    assert all(r.verdict is ImageVerdict.OK for r in results), [r.detail for r in results]


def test_check_many_stays_within_its_bound(image_host: ImageServer) -> None:
    image_host.gate = threading.Barrier(3, timeout=5)
    urls = [image_host.url(f"/gate/{i}") for i in range(12)]
    mixed = [*urls, image_host.url("/page.html")]
    with ImageChecker(image_host.policy(), concurrency=3) as checker:
        results = checker.check_many(mixed)
    assert image_host.peak == 3
    assert [r.verdict for r in results] == [ImageVerdict.OK] * 12 + [ImageVerdict.NOT_AN_IMAGE]
    assert checker.check_many([]) == []


def test_to_json_has_exactly_the_contract_fields(checker: ImageChecker, image_host: ImageServer) -> None:
    data = _check(checker, image_host, "/cmyk.jpg").to_json()
    assert list(data) == [
        "url",
        "verdict",
        "http_status",
        "content_type",
        "format",
        "mode",
        "width",
        "height",
        "bytes",
        "elapsed_ms",
        "detail",
        "warnings",
    ]
    assert data["verdict"] == "not_rgb" and isinstance(data["elapsed_ms"], float)


def test_the_connection_goes_to_the_vetted_address(image_host: ImageServer) -> None:
    # The name is resolved and vetted once; the request is sent to that address with the name in
    # Host, so a DNS answer that changes after the check (rebinding) is never used.
    with ImageChecker(image_host.policy()) as checker:
        result = checker.check(f"http://localhost:{image_host.port}/small.jpg")
    assert result.verdict is ImageVerdict.OK, result.detail
    assert [h["host"] for h in image_host.headers] == [f"localhost:{image_host.port}"]
    assert image_host.headers[0]["accept-encoding"] == "identity"


def test_to_evidence_carries_the_thumbnail(checker: ImageChecker, image_host: ImageServer) -> None:
    result = _check(checker, image_host, "/rgba.png")
    evidence = result.to_evidence()
    assert (evidence.verdict, evidence.mode, evidence.width) == ("has_alpha", "RGBA", 1000)
    assert evidence.thumbnail_png == result.thumbnail_png and evidence.thumbnail_png


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throw-away CA and a certificate for "localhost", made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    files = {
        name: str(folder / name) for name in ("ca.pem", "ca.key", "srv.pem", "srv.key", "srv.csr", "ext")
    }
    Path(files["ext"]).write_text("subjectAltName=DNS:localhost\n")
    commands = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files["ca.key"], "-out", files["ca.pem"],
         "-days", "2", "-subj", "/CN=SellerDesk test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", files["srv.key"], "-out", files["srv.csr"],
         "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", files["srv.csr"], "-CA", files["ca.pem"], "-CAkey", files["ca.key"],
         "-CAcreateserial", "-out", files["srv.pem"], "-days", "2", "-extfile", files["ext"]],
    ]  # fmt: skip
    for command in commands:
        subprocess.run([openssl, *command], check=True, capture_output=True, timeout=60)
    return files


def test_https_is_verified_against_the_name_while_connecting_to_the_address(
    tls_files: dict[str, str], sample_images: dict[str, tuple[bytes, str]]
) -> None:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tls_files["srv.pem"], tls_files["srv.key"])
    host, stop = start_image_server(sample_images, tls=server_context)
    try:
        trusted = ssl.create_default_context(cafile=tls_files["ca.pem"])
        with ImageChecker(host.policy(), verify=trusted) as checker:
            by_name = checker.check(f"https://localhost:{host.port}/small.jpg")
            by_address = checker.check(f"https://127.0.0.1:{host.port}/small.jpg")
        with ImageChecker(host.policy()) as checker:
            untrusted = checker.check(f"https://localhost:{host.port}/small.jpg")
    finally:
        stop()
    assert by_name.verdict is ImageVerdict.OK, by_name.detail
    assert by_address.verdict is ImageVerdict.UNREACHABLE  # the certificate names localhost only
    assert "TLS certificate not valid for 127.0.0.1" in by_address.detail
    assert untrusted.verdict is ImageVerdict.UNREACHABLE and "TLS certificate" in untrusted.detail
