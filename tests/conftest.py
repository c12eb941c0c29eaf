from tests.moto_setup import allow_every_moto_service

pytest_plugins = ["tests.interrupt"]

allow_every_moto_service()
