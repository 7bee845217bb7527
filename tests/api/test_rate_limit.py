import threading
import uuid

import pytest
from django.core.cache import cache
from django.db import connection

from tests.api.conftest import ApiClient
from trackly import api as trackly_api
from trackly.api_keys import api_key_create

NOW = 1_700_000_000.0


@pytest.fixture
def clock(monkeypatch):
    """A clock standing still, moved on by hand: which second a request falls into is exact."""

    class Clock:
        now = NOW

    clock = Clock()
    monkeypatch.setattr(trackly_api, "_clock", lambda: clock.now)
    return clock


@pytest.fixture
def limited(db, settings):
    settings.API_RATE_LIMIT = 5
    settings.API_RATE_BURST = 2
    cache.clear()


def test_beyond_rate_and_burst_a_key_gets_429_with_retry_after(limited, clock, api):
    codes = [api.get("labels").status_code for _ in range(8)]
    assert codes == [200] * 7 + [429]
    response = api.get("labels")
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "error": "Too many requests: this key may make 5 requests a second.",
        "code": "rate_limited",
    }


def test_each_key_has_its_own_limit(limited, clock, api, account):
    while api.get("labels").status_code != 429:
        pass
    other = ApiClient(api_key_create(account=account, name="Other")[1])
    assert other.get("labels").status_code == 200


def test_the_previous_second_counts_for_the_part_of_it_still_in_the_window(limited, clock, api):
    for _ in range(7):
        assert api.get("labels").status_code == 200
    # Half a second later, half of the last second's 7 requests still count: 3.5 + 1 passes,
    # and the fourth request of the new second (3.5 + 4 > 7) does not.
    clock.now = NOW + 1.5
    codes = [api.get("labels").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # Once the old second has slid out, the key is free again.
    clock.now = NOW + 3
    assert api.get("labels").status_code == 200


def test_a_limit_of_zero_turns_rate_limiting_off(settings, clock, api):
    settings.API_RATE_LIMIT = 0
    assert all(api.get("labels").status_code == 200 for _ in range(30))


def test_requests_without_a_valid_key_are_not_counted(limited, clock, anonymous_api):
    assert all(anonymous_api.get("labels").status_code == 401 for _ in range(10))


def test_a_failing_cache_turns_the_limit_off_rather_than_the_api(limited, api, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(trackly_api, "_count_request", broken)
    assert api.get("labels").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_database_cache_counts_every_increment_made_at_once(settings):
    # The base DatabaseCache.incr reads, adds and writes back: concurrent increments get lost.
    key = f"test-counter-{uuid.uuid4()}"
    cache.set(key, 0, timeout=60)
    errors = []

    def increment():
        try:
            for _ in range(20):
                cache.incr(key)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=increment) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache.get(key) == 160


def test_incr_of_a_missing_or_expired_key_raises_value_error(db):
    with pytest.raises(ValueError, match="not found"):
        cache.incr(f"missing-{uuid.uuid4()}")


def _redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=0.2).ping()
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_the_limit_works_on_redis_too(settings, clock, api):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": f"trackly-test-{uuid.uuid4()}",
        }
    }
    settings.API_RATE_LIMIT = 5
    settings.API_RATE_BURST = 2
    codes = [api.get("labels").status_code for _ in range(8)]
    assert codes == [200] * 7 + [429]
