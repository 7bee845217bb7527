import sqlite3
import threading
import time
import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from api import ratelimit
from tests.api.conftest import ApiClient
from trackly.api_keys import api_key_create

NOW = 1_700_000_000.0


@pytest.fixture
def clock(monkeypatch):
    """A clock standing still, moved on by hand: which second a request falls into is exact."""

    class Clock:
        now = NOW

    clock = Clock()
    monkeypatch.setattr(ratelimit, "_clock", lambda: clock.now)
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

    monkeypatch.setattr(ratelimit, "_count_request", broken)
    assert api.get("labels").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_shared_cache_counts_every_increment_made_at_once(settings):
    # The SQLite file on SQLite, the database table on PostgreSQL: each thread has a connection
    # of its own, as processes do. (The base DatabaseCache.incr reads, adds and writes back, so
    # concurrent increments would get lost.)
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


sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the rate limit's own SQLite file is SQLite's"
)


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_on_sqlite_counting_a_request_does_not_wait_for_the_database_write_lock(
    limited, api, api_key
):
    # The key's use was just recorded, so the request itself writes nothing to the database.
    api_key[0].last_used_at = timezone.now()
    api_key[0].save(update_fields=["last_used_at"])
    # Another process (a job, say) holds the write lock of the database file meanwhile.
    writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    codes = []

    def get_labels():
        try:
            codes.append(api.get("labels").status_code)
        finally:
            connection.close()

    thread = threading.Thread(target=get_labels)
    try:
        thread.start()
        thread.join(3)
        answered = not thread.is_alive()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        thread.join()
    assert answered, "the request waited for the database's write lock"
    assert codes == [200]


@sqlite_only
def test_the_sqlite_cache_add_replaces_only_an_expired_entry(db, monkeypatch):
    cache.clear()
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)
    assert cache.add("counter", 1, timeout=3) is True
    assert cache.add("counter", 5, timeout=3) is False
    assert cache.incr("counter", 2) == 3
    now += 3
    assert cache.get("counter", "gone") == "gone"
    with pytest.raises(ValueError, match="not found"):
        cache.incr("counter")
    assert cache.add("counter", 5, timeout=3) is True
    assert cache.get("counter") == 5


@sqlite_only
def test_the_sqlite_cache_keeps_any_value_and_deletes_expired_entries(db, monkeypatch):
    cache.clear()
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)
    cache.set("forever", {"a": [1, 2]}, timeout=None)
    cache.set("briefly", 1.5, timeout=1)
    cache.set("big", 2**70, timeout=60)
    assert cache.incr("briefly") == 2.5
    assert cache.incr("big") == 2**70 + 1
    assert (cache.get("forever"), cache.has_key("briefly")) == ({"a": [1, 2]}, True)
    assert cache.touch("briefly", timeout=10) is True
    assert cache.delete("big") is True
    assert cache.delete("big") is False
    now += 100
    cache.set("later", True)
    stored = cache._db().execute("SELECT key FROM cache ORDER BY key").fetchall()
    assert [key.rsplit(":", 1)[-1] for (key,) in stored] == ["forever", "later"]
    assert cache.get("later") is True


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
