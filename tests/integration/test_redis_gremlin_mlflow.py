import mlflow
import redis
from gremlin_python.driver.client import Client
from gremlin_python.driver.serializer import GraphSONSerializersV2d0
from mlflow.tracking import MlflowClient


def test_redis_round_trip_through_a_pipeline_with_ttl(stack, settings, unique):
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(f"{unique}:profile", mapping={"country": "HK", "tier": "gold"})
        pipe.incrby(f"{unique}:total_minor", 1250)
        pipe.incrby(f"{unique}:total_minor", 250)
        pipe.expire(f"{unique}:profile", 60)
        pipe.execute()
    assert client.hgetall(f"{unique}:profile") == {b"country": b"HK", b"tier": b"gold"}
    assert int(client.get(f"{unique}:total_minor")) == 1500
    assert 0 < client.ttl(f"{unique}:profile") <= 60
    client.delete(f"{unique}:profile", f"{unique}:total_minor")


UPSERT = (
    "g.V(vid).fold().coalesce(unfold(), "
    "addV(vlabel).property(id, vid).property(pkName, pk).property('name', name))"
    ".project('id', 'name', 'pk').by(id).by(values('name')).by(values(pkName))"
)


def test_gremlin_round_trip_through_a_script_with_bindings_over_graphson_v2(
    stack, settings, unique
):
    client = Client(settings.gremlin.url, "g", message_serializer=GraphSONSerializersV2d0())
    try:
        hostile = "x'); g.V().drop(); ('"
        bindings = {
            "vid": f"{unique}-c1",
            "vlabel": "customer",
            "pkName": "pk",
            "pk": unique,
            "name": hostile,
        }
        first = client.submit(UPSERT, bindings).all().result(timeout=15)
        again = client.submit(UPSERT, bindings).all().result(timeout=15)
        assert first == again == [{"id": f"{unique}-c1", "name": hostile, "pk": unique}]
        count = client.submit("g.V().has(pkName, pk).count()", {"pkName": "pk", "pk": unique})
        assert count.all().result(timeout=15) == [1]
        client.submit("g.V().has(pkName, pk).drop()", {"pkName": "pk", "pk": unique}).all().result()
    finally:
        client.close()


def test_an_mlflow_run_is_logged_and_read_back(stack, settings, unique):
    mlflow.set_tracking_uri(settings.mlflow.tracking_uri)
    mlflow.set_experiment(f"integration-{unique}")
    with mlflow.start_run() as run:
        mlflow.log_params({"model": "gbm", "max_depth": 4})
        mlflow.log_metric("auc_pr", 0.8125)
    stored = MlflowClient(settings.mlflow.tracking_uri).get_run(run.info.run_id)
    assert stored.data.params == {"model": "gbm", "max_depth": "4"}
    assert stored.data.metrics["auc_pr"] == 0.8125
