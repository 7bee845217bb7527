"""API keys: making them, finding the key a request presents, revoking them.

A key is `trk_` followed by 32 random letters and digits (about 190 bits). Only its SHA-256
hash is stored: the key is random, so a slow password hash would add nothing. Its first
`PREFIX_LENGTH` characters are stored in clear: they tell keys apart on the API keys page and
find the key's row, whose hash is then compared in constant time.
"""

import hashlib
import hmac
import re
import secrets
import string
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from trackly.models import Account, ApiKey

KEY_START = "trk_"
KEY_RANDOM_LENGTH = 32
KEY_PATTERN = re.compile(rf"{KEY_START}[A-Za-z0-9]{{{KEY_RANDOM_LENGTH}}}")
# `trk_` and 8 random characters: a lookup that practically never finds two rows, while the
# 24 characters never stored keep 140 bits secret.
PREFIX_LENGTH = len(KEY_START) + 8
# `last_used_at` is written at most this often per key, not on every request.
LAST_USED_PRECISION = timedelta(minutes=1)

_ALPHABET = string.ascii_letters + string.digits


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_START + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_RANDOM_LENGTH))


def api_key_create(
    *, account: Account, name: str, read_only: bool = False, created_by=None
) -> tuple[ApiKey, str]:
    """Make a key for `account`; return the record and the key itself, which is never stored."""
    key = generate_key()
    api_key = ApiKey.objects.create(
        account=account,
        name=name,
        read_only=read_only,
        created_by=created_by,
        prefix=key[:PREFIX_LENGTH],
        key_hash=_hash(key),
    )
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Stop the key from working; its record stays, to show when it was used last."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


def find_api_key(key: str) -> ApiKey | None:
    """The active key `key` is, with its account; None for anything else (revoked, unknown,
    malformed)."""
    if not KEY_PATTERN.fullmatch(key):
        return None
    digest = _hash(key)
    candidates = (
        ApiKey.objects.active().select_related("account").filter(prefix=key[:PREFIX_LENGTH])
    )
    for candidate in candidates:
        if hmac.compare_digest(candidate.key_hash, digest):
            return candidate
    return None


def api_key_touch(api_key: ApiKey) -> None:
    """Record that the key is being used, unless that was recorded less than a minute ago."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_PRECISION:
        return
    # The condition is repeated in SQL so that concurrent requests write it once.
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION),
        pk=api_key.pk,
    ).update(last_used_at=now)
    api_key.last_used_at = now
