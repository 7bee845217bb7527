"""The per-key rate limit of the API, counted in the cache (`trackly.caches`)."""

import logging
import time

from django.conf import settings
from django.core.cache import cache

from api.errors import ApiError
from trackly.models import ApiKey

logger = logging.getLogger(__name__)


def _clock() -> float:
    return time.time()


def _count_request(key: str) -> int:
    """Add one to the counter `key` (made when missing) and return it; atomic in every process."""
    try:
        return cache.incr(key)
    except ValueError:
        # The first request of the window makes the counter; `add` fails if another did first.
        if cache.add(key, 1, timeout=3):
            return 1
        return cache.incr(key)


def check_rate(api_key: ApiKey) -> None:
    """Raise `rate_limited` when the key makes more than `API_RATE_LIMIT` requests a second.

    A sliding window over per-second counters: the previous second's count, weighted by how
    much of it still lies within the last second, plus this second's. Up to `API_RATE_BURST`
    requests above the rate pass, so a client pacing itself at the rate is never refused.
    """
    rate = settings.API_RATE_LIMIT
    if rate <= 0:
        return
    now = _clock()
    window = int(now)
    try:
        current = _count_request(f"api-rate:{api_key.pk}:{window}")
        previous = cache.get(f"api-rate:{api_key.pk}:{window - 1}", 0)
    except Exception:
        # A broken cache must not take the API down with it; the limit is off meanwhile.
        logger.exception("The API rate limit is not applied: the cache failed.")
        return
    estimate = previous * (1 - (now - window)) + current
    if estimate > rate + settings.API_RATE_BURST:
        raise ApiError(
            "rate_limited",
            f"Too many requests: this key may make {rate} requests a second.",
            headers={"Retry-After": "1"},
        )
