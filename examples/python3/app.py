import http.server
import os
import platform


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = "python3 %s: hello=%s\n" % (platform.python_version(), os.environ.get("GREETING", ""))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body.encode())


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Hello).serve_forever()
