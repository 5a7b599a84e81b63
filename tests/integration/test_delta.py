from deltalake import DeltaTable

from paystream.stores.spark import build_spark


def test_spark_writes_delta_with_local_jars_and_delta_rs_reads_the_same_rows(
    stack, settings, unique
):
    spark = build_spark(settings.lakehouse, "integration")
    jars = spark.sparkContext.getConf().get("spark.jars")
    assert "delta-spark_2.13" in jars and "spark.jars.packages" not in dict(
        spark.sparkContext.getConf().getAll()
    )
    path = str(settings.lakehouse.root / "integration" / unique)
    rows = [("pay-1", "GBP", 255), ("pay-2", "HKD", 125000), ("pay-3", "JPY", 1500)]
    frame = spark.createDataFrame(rows, "payment_id string, currency string, amount_minor long")
    frame.write.format("delta").mode("overwrite").save(path)
    from_spark = sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())
    from_delta_rs = sorted(
        tuple(r.values()) for r in DeltaTable(path).to_pyarrow_table().to_pylist()
    )
    assert from_spark == from_delta_rs == sorted(rows)
    assert DeltaTable(path).version() == 0
