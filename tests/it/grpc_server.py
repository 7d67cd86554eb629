"""A gRPC server loadctl did not write: grpcio, with examples/grpc/shop.proto compiled by
grpcio-tools at start, and the reflection service. Prints its port, then serves until
killed; the messages it read are counted into OUT_DIR/count.

usage: grpc_server.py PROTO OUT_DIR
"""
import os
import sys
import threading
from concurrent import futures

import grpc
from grpc_tools import protoc
from grpc_reflection.v1alpha import reflection

proto, out = sys.argv[1], sys.argv[2]
include = os.path.dirname(os.path.abspath(proto))
rc = protoc.main(["protoc", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", os.path.basename(proto)])
if rc != 0:
    sys.exit(f"protoc failed: {rc}")
sys.path.insert(0, out)
import shop_pb2  # noqa: E402
import shop_pb2_grpc  # noqa: E402

lock = threading.Lock()
count = 0


def received(n=1):
    global count
    with lock:
        count += n
        with open(os.path.join(out, "count.tmp"), "w") as f:
            f.write(str(count))
        os.replace(os.path.join(out, "count.tmp"), os.path.join(out, "count"))


class Inventory(shop_pb2_grpc.InventoryServicer):
    def Reserve(self, request, context):
        received()
        if request.fail_with:
            context.abort(grpc.StatusCode(_code(request.fail_with)), "asked to fail")
        if request.user == "deadline":
            # The deadline the client sent (grpc-timeout), in whole seconds; -1 if none.
            left = context.time_remaining()
            return shop_pb2.Reservation(id=str(-1 if left is None else round(left)))
        return shop_pb2.Reservation(id="py-1", sku=request.sku, qty=request.qty, remaining=9)

    def Watch(self, request, context):
        received()
        for seq in range(request.count):
            yield shop_pb2.StockLevel(sku=request.sku, remaining=100 - seq, seq=seq)

    def Restock(self, request_iterator, context):
        n, total = 0, 0
        for r in request_iterator:
            received()
            n += 1
            total += r.qty
        return shop_pb2.RestockSummary(messages=n, total=total)

    def Talk(self, request_iterator, context):
        for note in request_iterator:
            received()
            yield shop_pb2.Note(text="ack " + note.text, seq=note.seq)


def _code(n):
    for c in grpc.StatusCode:
        if c.value[0] == n:
            return c.value
    return grpc.StatusCode.UNKNOWN.value


server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
shop_pb2_grpc.add_InventoryServicer_to_server(Inventory(), server)
names = (shop_pb2.DESCRIPTOR.services_by_name["Inventory"].full_name, reflection.SERVICE_NAME)
reflection.enable_server_reflection(names, server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
server.wait_for_termination()
