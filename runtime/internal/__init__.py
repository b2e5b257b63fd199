"""The sidecar-to-sidecar channel, on the sidecar's internal port (``--dapr-internal-grpc-port``).

Transport: HTTP/1.1 with keep-alive (the lean client of ``runtime.appchannel._h1``, an aiohttp
server), chosen by measurement over gRPC unary and gRPC streams (``bench/invoke_transport.py``):
it is the fastest in Python for small calls and streams bodies natively both ways. ``wire``
fixes the request/response shape, ``client`` calls a peer, ``server`` answers peers, ``tls``
is the one place that will make the (m)TLS contexts. ``grpcproxy`` tunnels proxied gRPC calls
over the same port (its client is aiohttp's).
"""

__all__: list[str] = []
