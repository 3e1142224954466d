"""Writes a WARC file with warcio (an independent writer) for copyhound's tests.

usage: warcio_write.py MANIFEST.json OUT [--no-gzip] [--version 1.0|1.1] [--chunked]

MANIFEST is a JSON list of {"url": ..., "path": file with the HTML body,
"content_type": ...}. Each page becomes a request record and a response record (with an
HTTP head written by warcio); --chunked sends the body with chunked transfer coding as
recorded on the wire. Records are gzipped one member each unless --no-gzip.
"""
import argparse
import json
from io import BytesIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def chunked(body):
    out = BytesIO()
    for i in range(0, len(body), 1000):
        piece = body[i:i + 1000]
        out.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
    out.write(b"0\r\n\r\n")
    return out.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("out")
    ap.add_argument("--no-gzip", action="store_true")
    ap.add_argument("--version", default="1.1")
    ap.add_argument("--chunked", action="store_true")
    args = ap.parse_args()
    pages = json.load(open(args.manifest))
    version = "WARC/1.0" if args.version == "1.0" else "WARC/1.1"
    with open(args.out, "wb") as f:
        writer = WARCWriter(f, gzip=not args.no_gzip, warc_version=version)
        writer.write_record(writer.create_warcinfo_record("test.warc", {"software": "warcio"}))
        for page in pages:
            body = open(page["path"], "rb").read()
            headers = [("Content-Type", page.get("content_type", "text/html; charset=utf-8"))]
            if args.chunked:
                body = chunked(body)
                headers.append(("Transfer-Encoding", "chunked"))
            else:
                headers.append(("Content-Length", str(len(body))))
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            req = writer.create_warc_record(
                page["url"], "request",
                http_headers=StatusAndHeaders("GET / HTTP/1.1", [("Host", "x")], is_http_request=True),
            )
            resp = writer.create_warc_record(
                page["url"], "response", payload=BytesIO(body), length=len(body), http_headers=http
            )
            writer.write_request_response_pair(req, resp)


if __name__ == "__main__":
    main()
