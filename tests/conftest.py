from tests.moto_setup import allow_every_moto_service

allow_every_moto_service()
