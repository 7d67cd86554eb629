"""An OTLP metrics receiver for loadctl's tests, decoding with the `opentelemetry-proto`
package (the project's own generated classes, not loadctl's encoder): over HTTP
(`POST /v1/metrics`, protobuf) or over gRPC (grpcio, MetricsService/Export). Each request
is written as one JSON line (protobuf's JSON mapping) to the file given; the port it
listens on is printed first. With --answer CODE, requests after the first are answered
with that HTTP status (and Retry-After: 1 for 429), or over gRPC aborted with that
grpc-status and the message "overloaded". With --tls CERT KEY (PEM files), gRPC is served
over TLS.

usage: otlp_receiver.py http|grpc OUT.jsonl [--answer CODE] [--tls CERT KEY]
"""

import http.server
import sys
import threading
from concurrent import futures

from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc

proto, out = sys.argv[1], sys.argv[2]
opts = sys.argv[3:]
answer = int(opts[opts.index("--answer") + 1]) if "--answer" in opts else 200
tls = opts[opts.index("--tls") + 1:opts.index("--tls") + 3] if "--tls" in opts else None
lock = threading.Lock()
seen = [0]


def record(req):
    with lock:
        with open(out, "a") as f:
            f.write(MessageToJson(req, indent=None) + "\n")


if proto == "http":

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                seen[0] += 1
                n = seen[0]
            if self.path != "/v1/metrics" or self.headers.get("content-type") != "application/x-protobuf":
                self.send_response(404)
                self.end_headers()
                return
            if n > 1 and answer != 200:
                self.send_response(answer)
                if answer == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("content-length", "0")
                self.end_headers()
                return
            req = svc.ExportMetricsServiceRequest()
            req.ParseFromString(body)
            record(req)
            resp = svc.ExportMetricsServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(resp)))
            self.end_headers()
            self.wfile.write(resp)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
else:
    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as svc_grpc

    class Service(svc_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            with lock:
                seen[0] += 1
                n = seen[0]
            if n > 1 and answer != 200:
                code = next(c for c in grpc.StatusCode if c.value[0] == answer)
                context.abort(code, "overloaded")
            record(request)
            return svc.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    svc_grpc.add_MetricsServiceServicer_to_server(Service(), server)
    if tls:
        with open(tls[0], "rb") as c, open(tls[1], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()
