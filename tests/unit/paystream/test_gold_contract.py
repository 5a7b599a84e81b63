"""The gold contract is one declaration that Spark DDL, arrow readers and paths all follow."""

import pyarrow as pa
import pytest

from api.gold import GOLD_TABLES as API_TABLES
from harness.sample_gold import (
    CATALOGUE,
    HISTORY,
    INTERACTIONS,
    PRODUCT_DAILY,
    RISK_KPIS,
    RISK_REASONS,
    STATEMENTS,
)
from lakehouse.gold.contract import GOLD_TABLES as SPARK_TABLES
from paystream.contracts.events import ContractError
from paystream.contracts.gold import (
    GOLD_KEYS,
    GOLD_TABLES,
    GOLD_ZORDER,
    SERVED_TABLES,
    arrow_schema,
    column_types,
    gold_path,
)


def test_spark_api_and_kernel_share_one_table_list():
    assert SPARK_TABLES is GOLD_TABLES
    assert tuple(GOLD_TABLES) == API_TABLES
    assert set(SERVED_TABLES) <= set(GOLD_TABLES)
    assert set(GOLD_ZORDER) <= set(GOLD_TABLES)
    assert set(GOLD_KEYS) == set(GOLD_TABLES)


@pytest.mark.parametrize("name", list(GOLD_TABLES))
def test_every_gold_key_is_made_of_the_tables_columns(name):
    columns = [column for column, _ in column_types(name)]
    assert set(GOLD_KEYS[name]) <= set(columns)


@pytest.mark.parametrize("name", list(GOLD_TABLES))
def test_arrow_schema_has_the_contract_columns_in_order(name):
    schema = arrow_schema(name)
    assert schema.names == [column for column, _ in column_types(name)]


def test_spark_types_map_to_the_types_delta_stores():
    schema = arrow_schema("fraud_labels")
    assert schema.field("amount_minor").type == pa.int64()
    assert schema.field("label").type == pa.int32()
    assert schema.field("authorized_at").type == pa.timestamp("us", tz="UTC")
    assert arrow_schema("risk_kpis").field("day").type == pa.date32()


def test_sample_gold_is_built_from_the_contract():
    assert arrow_schema("merchant_statements") == STATEMENTS
    assert arrow_schema("customer_payment_history") == HISTORY
    assert arrow_schema("interactions_customer_product") == INTERACTIONS
    assert arrow_schema("risk_kpis") == RISK_KPIS
    assert arrow_schema("risk_reasons") == RISK_REASONS
    assert arrow_schema("product_daily") == PRODUCT_DAILY
    assert arrow_schema("product_catalogue") == CATALOGUE


def test_a_gold_path_is_checked_against_the_contract():
    assert gold_path("/lake/", "risk_kpis") == "/lake/gold/risk_kpis"
    assert gold_path("abfss://c@a.dfs.core.windows.net/pay", "fraud_labels").endswith(
        "/pay/gold/fraud_labels"
    )
    with pytest.raises(ContractError, match="not a gold table"):
        gold_path("/lake", "merchant_statement")
