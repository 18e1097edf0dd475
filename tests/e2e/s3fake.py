"""A small in-memory S3 for tests that must see or bend what recd sends: every request is kept
(method, path, query, headers, body) so that a test can recompute its signature with botocore,
and the server can be told to answer 500 for a while.  It does not check signatures (the real
test server, scripts/s3-test-server.sh, does); it does check the payload digests recd sends.

Path-style only: /BUCKET/KEY.  Objects, multipart uploads (initiate, parts, complete, abort,
list), ranged GET, HEAD, DELETE, ListObjectsV2."""

import base64
import hashlib
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape


class FakeS3:
    def __init__(self, bucket="fake-bucket"):
        self.bucket = bucket
        self.objects = {}   # key -> bytes
        self.uploads = {}   # upload id -> {"key", "parts": {n: bytes}, "initiated"}
        self.requests = []  # (method, raw path, headers dict, body)
        self.fail_status = None  # answer every request with this status while set
        self.fail_code = "InternalError"  # the <Code> of those answers
        self.fail_left = None  # a count: only that many more requests fail, then fail_status clears
        # How a ranged GET is answered: "exact" (as S3 does), "whole" (a 206 of the whole object,
        # as the test server, s3rver, answers "bytes=0-0"), "wider" (a 206 from one byte before to
        # one byte after, clipped), "other" (a 206 of the range one byte later: not the bytes asked).
        self.range_answer = "exact"
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if self.command != "HEAD" or "Content-Length" not in (headers or {}):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status, code, msg="error"):
                self._send(status, ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                                    "<Message>%s</Message></Error>" % (code, msg)).encode(),
                           {"Content-Type": "application/xml"})

            def _handle(self):
                body = self._body()
                with fake.lock:
                    fake.requests.append((self.command, self.path, dict(self.headers.items()), body))
                    fail, code = fake.fail_status, fake.fail_code
                    if fail and fake.fail_left is not None:
                        fake.fail_left -= 1
                        if fake.fail_left <= 0:
                            fake.fail_status = fake.fail_left = None
                if fail:
                    return self._error(fail, code, "we are failing on purpose")
                # The digests recd sends must be those of the body that came.
                sha = self.headers.get("x-amz-content-sha256")
                if sha != hashlib.sha256(body).hexdigest():
                    return self._error(400, "XAmzContentSHA256Mismatch")
                md5 = self.headers.get("Content-MD5")
                if body and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
                    return self._error(400, "BadDigest")
                parts = urlsplit(self.path)
                q = dict(parse_qsl(parts.query, keep_blank_values=True))
                segs = parts.path.lstrip("/").split("/", 1)
                if segs[0] != fake.bucket:
                    return self._error(404, "NoSuchBucket")
                key = unquote(segs[1]) if len(segs) > 1 and segs[1] else None
                with fake.lock:
                    return self._route(key, q, body)

            def _route(self, key, q, body):
                m = self.command
                if key is None and m == "GET" and "uploads" in q:
                    pre = q.get("prefix", "")
                    ups = "".join("<Upload><Key>%s</Key><UploadId>%s</UploadId><Initiated>%s</Initiated>"
                                  "</Upload>" % (escape(u["key"]), uid, u["initiated"])
                                  for uid, u in sorted(fake.uploads.items()) if u["key"].startswith(pre))
                    return self._send(200, ("<ListMultipartUploadsResult><Bucket>%s</Bucket>"
                                            "<IsTruncated>false</IsTruncated>%s</ListMultipartUploadsResult>"
                                            % (fake.bucket, ups)).encode())
                if key is None and m == "GET" and q.get("list-type") == "2":
                    pre = q.get("prefix", "")
                    keys = sorted(k for k in fake.objects if k.startswith(pre))
                    # Pages of two, so that recd's continuation is exercised.
                    start = int(q.get("continuation-token", "0"))
                    page = keys[start:start + 2]
                    more = start + 2 < len(keys)
                    items = "".join("<Contents><Key>%s</Key><Size>%d</Size></Contents>"
                                    % (escape(k), len(fake.objects[k])) for k in page)
                    nxt = "<NextContinuationToken>%d</NextContinuationToken>" % (start + 2) if more else ""
                    return self._send(200, ("<ListBucketResult><IsTruncated>%s</IsTruncated>%s%s"
                                            "</ListBucketResult>" % ("true" if more else "false", nxt,
                                                                     items)).encode())
                if key is None:
                    return self._error(400, "InvalidRequest")
                if m == "POST" and "uploads" in q:
                    uid = uuid.uuid4().hex
                    fake.uploads[uid] = {"key": key, "parts": {},
                                         "initiated": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
                    return self._send(200, ("<InitiateMultipartUploadResult><Key>%s</Key><UploadId>%s"
                                            "</UploadId></InitiateMultipartUploadResult>" % (key, uid)).encode())
                if m == "PUT" and "uploadId" in q:
                    up = fake.uploads.get(q["uploadId"])
                    if not up:
                        return self._error(404, "NoSuchUpload")
                    up["parts"][int(q["partNumber"])] = body
                    return self._send(200, b"", {"ETag": '"%s"' % hashlib.md5(body).hexdigest()})
                if m == "POST" and "uploadId" in q:
                    up = fake.uploads.pop(q["uploadId"], None)
                    if not up:
                        return self._error(404, "NoSuchUpload")
                    fake.objects[key] = b"".join(up["parts"][n] for n in sorted(up["parts"]))
                    return self._send(200, b"<CompleteMultipartUploadResult><Key>%s</Key>"
                                      b"</CompleteMultipartUploadResult>" % key.encode())
                if m == "DELETE" and "uploadId" in q:
                    fake.uploads.pop(q["uploadId"], None)
                    return self._send(204)
                if m == "PUT":
                    fake.objects[key] = body
                    return self._send(200, b"", {"ETag": '"%s"' % hashlib.md5(body).hexdigest()})
                if m == "DELETE":
                    fake.objects.pop(key, None)
                    return self._send(204)
                if key not in fake.objects:
                    return self._error(404, "NoSuchKey") if m == "GET" else self._send(404)
                data = fake.objects[key]
                rng = self.headers.get("Range")
                if m == "HEAD":
                    return self._send(200, b"", {"Content-Length": str(len(data))})
                if rng and rng.startswith("bytes="):
                    a, _, b = rng[6:].partition("-")
                    a, b = int(a), min(int(b), len(data) - 1)
                    if a >= len(data):
                        return self._error(416, "InvalidRange")
                    if fake.range_answer == "whole":
                        a, b = 0, len(data) - 1
                    elif fake.range_answer == "wider":
                        a, b = max(a - 1, 0), min(b + 1, len(data) - 1)
                    elif fake.range_answer == "other" and b + 1 < len(data):
                        a, b = a + 1, b + 1
                    return self._send(206, data[a:b + 1],
                                      {"Content-Range": "bytes %d-%d/%d" % (a, b, len(data))})
                return self._send(200, data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.endpoint = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def location(self, prefix=""):
        return "s3://%s%s?endpoint=%s&region=eu-west-3" % (self.bucket, "/" + prefix if prefix else "",
                                                             self.endpoint)

    def taken(self):
        with self.lock:
            out = list(self.requests)
            self.requests.clear()
        return out

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
