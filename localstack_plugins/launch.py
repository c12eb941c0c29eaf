"""Entry point of the embedded LocalStack process: ``python -m localstack_plugins.launch``.

Runs LocalStack's own runtime entry point in host mode after two launch-time patches that keep it
on this machine's loopback and inside the project's state folder:

- the twisted gateway listens on every interface whatever ``GATEWAY_LISTEN`` says; it is made to
  bind to the configured host (127.0.0.1);
- S3 object data defaults to the fixed folder ``/tmp/localstack-s3-storage``, shared by every
  instance on the machine; it is moved under ``TMPDIR`` (the state folder).

The environment (``GATEWAY_LISTEN``, ``FILESYSTEM_ROOT``, executor and provider selection, ...)
is prepared by :mod:`scripts.local`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

FIXED_S3_ROOT = "/tmp/localstack-s3-storage"  # noqa: S108 - the path being replaced


def _bind_gateway_to_configured_host() -> None:
    from localstack import config
    from localstack.aws.serving.twisted import TLSMultiplexerFactory
    from localstack.runtime.server.twisted import TwistedRuntimeServer
    from rolo.serving.twisted import TwistedGateway
    from twisted.internet import endpoints, reactor, ssl

    original = TwistedRuntimeServer.register

    def register(self: Any, gateway: Any, listen: list[Any], ssl_creds: Any = None) -> None:
        ipv4 = [hp for hp in listen if not config.is_ipv6_address(hp.host)]
        others = [hp for hp in listen if hp not in ipv4]
        if others:
            original(self, gateway, others, ssl_creds)
        if not ipv4:
            return
        # Same as the original for IPv4, with the interface the user asked for.
        site = TwistedGateway(gateway)
        factory: Any = site
        if ssl_creds:
            cert_file, key_file = ssl_creds
            context: Any = ssl.DefaultOpenSSLContextFactory  # untyped in twisted
            context = context(key_file, cert_file)
            context.getContext().use_certificate_chain_file(cert_file)
            factory = TLSMultiplexerFactory(context, False, site)  # type: ignore[no-untyped-call]
        for host_and_port in ipv4:
            endpoint = endpoints.TCP4ServerEndpoint(  # type: ignore[no-untyped-call]
                reactor, host_and_port.port, interface=host_and_port.host or "127.0.0.1"
            )
            endpoint.listen(factory)  # type: ignore[no-untyped-call]

    TwistedRuntimeServer.register = register  # type: ignore[method-assign]


def _keep_s3_data_in_state_dir() -> None:
    from localstack.services.s3.storage import ephemeral

    original = ephemeral.EphemeralS3ObjectStore.__init__
    target = Path(tempfile.gettempdir()) / "s3-storage"

    def init(self: Any, root_directory: str | None = None) -> None:
        if root_directory in (None, FIXED_S3_ROOT):
            target.mkdir(parents=True, exist_ok=True)
            root_directory = str(target)
        original(self, root_directory)

    ephemeral.EphemeralS3ObjectStore.__init__ = init  # type: ignore[method-assign]


def main() -> None:
    _bind_gateway_to_configured_host()
    _keep_s3_data_in_state_dir()
    from localstack.runtime.main import main as localstack_main

    localstack_main()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
