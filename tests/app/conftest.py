from tests.storage.azurite_server import azurite

__all__ = ["azurite"]
