"""moto configuration shared by every suite that uses it (unit tests and benchmarks).

The environment carries LocalStack's moto fork (``moto-ext``) as its only ``moto``. The fork limits
``mock_aws`` to the services LocalStack serves from moto (its ``core.service_whitelist``), which
excludes Firehose and CloudWatch; plain moto has no such list. Lifting it restores moto's own
behaviour for every service.
"""

from moto.core.config import default_user_config


def allow_every_moto_service() -> None:
    default_user_config["core"]["service_whitelist"] = None
