from django.contrib.auth.hashers import Argon2PasswordHasher

from .app_settings import app_settings


class Argon2idHasher(Argon2PasswordHasher):
    """Django's Argon2id hasher with its cost taken from ARGON2_* (accounts/app_settings.py; OWASP's floor by default).

    It keeps the algorithm name "argon2", so hashes made with other parameters verify and are
    upgraded by Django's `must_update` at the next successful sign-in.
    """

    @property
    def time_cost(self) -> int:  # type: ignore[override]  # read from settings at each use
        return app_settings.ARGON2_TIME_COST

    @property
    def memory_cost(self) -> int:  # type: ignore[override]  # read from settings at each use
        return app_settings.ARGON2_MEMORY_COST_KIB

    @property
    def parallelism(self) -> int:  # type: ignore[override]  # read from settings at each use
        return app_settings.ARGON2_PARALLELISM
