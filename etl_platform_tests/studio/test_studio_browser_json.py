"""The studio's controls for what was YAML-only, in headless Chromium against the real server,
shards and lake: the demo's `order_items` (explode, item columns from the sampled elements'
keys, a lookup on an item column) and `customer_profiles` (flatten) built by clicking,
published and compared with the demo's files; a period lookup, a typed and required looked-up
column and a required column set by clicking, a bad type's error beside its looked-up column;
the JSON keys of a shard that cannot be reached, sampled from the lake and said so.

Screenshots as in test_studio_browser.py (`STUDIO_SCREENSHOTS=docs/studio`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from etl_platform.demo.mariadb_server import free_port
from etl_platform.env import DEFAULTS_DIR
from etl_platform.specs.loader import read_yaml
from etl_platform_tests.studio.conftest import Project, dead_shard_sources, serve
from etl_platform_tests.studio.test_studio_browser import _add_row, _css, _fill, _settle

pytestmark = pytest.mark.integration


def _start(driver: WebDriver, url: str, name: str, source: str) -> dict:
    """A new view named like the demo's, with its description and driving table."""
    driver.get(url + "/")
    _settle(driver)
    demo = read_yaml(DEFAULTS_DIR / "views" / name / "defs.yaml")
    assert isinstance(demo, dict)
    _fill(driver, _css(driver, "#f-name"), name)
    _fill(driver, _css(driver, "#f-description"), demo["attributes"]["description"])
    Select(_css(driver, "#f-source")).select_by_value(source)
    _settle(driver)
    return demo


def _shoot(driver: WebDriver, section: str, path: Path) -> None:
    """A screenshot with the section at the top of the window."""
    driver.execute_script("arguments[0].scrollIntoView()", _css(driver, section))
    driver.save_screenshot(str(path))


def _finish(driver: WebDriver, unique_key: str, fail_after: str = "2d") -> None:
    _fill(driver, _css(driver, "#f-unique_key"), unique_key)
    _css(driver, '.dest[value="athena"]').click()
    _settle(driver)
    _fill(driver, _css(driver, "#f-fail_after"), fail_after)
    _fill(driver, _css(driver, "#f-max_reject_ratio"), "0.05")


def _publish_and_compare(driver: WebDriver, project: Project, name: str, demo: dict) -> None:
    """The published file parses to the demo's (fields may come in ViewSpec's order)."""
    assert "no problems" in _css(driver, "#problems").text
    driver.find_element(By.ID, "publish").click()
    _settle(driver)
    assert "published" in _css(driver, "#pub-status").text
    mine = read_yaml(project.views / name / "defs.yaml")
    assert mine == demo


def test_build_and_publish_order_items_with_explode_by_clicking(
    studio_url: str, browser: WebDriver, studio_project: Project, shots: Path
) -> None:
    driver = browser
    demo = _start(driver, studio_url, "order_items", "orders")
    for column, name, type_ in (("id", "order_id", "uint64"), ("status", "status", "string")):
        _add_row(driver, _css(driver, f'tr[data-source-column="{column}"]'), name, type_, name)

    # The keys of payload on the second shard; `items` holds arrays: explode it.
    Select(_css(driver, "select.shard-pick")).select_by_value("shard_01")
    _css(driver, "button.sample").click()
    assert "shard shard_01, the latest" in _css(driver, ".sample-source").text
    _css(driver, 'tr[data-path="items"] button.explode').click()
    _settle(driver)
    assert _css(driver, "#ex-json").get_attribute("value") == "payload"
    assert _css(driver, "#ex-path").get_attribute("value") == "items"
    offered = [
        o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#ex-paths option")
    ]
    assert offered == ["items"]  # the arrays the sample found
    # The item columns, from the keys the sample found in the elements.
    price = _css(driver, 'tr[data-item-path="price"]')
    assert "elements" in price.text
    assert (
        price.find_element(By.CSS_SELECTOR, "input.type")
        .get_attribute("value")
        .startswith("decimal(")
    )
    for path, name, type_ in (
        ("sku", "sku", "string"),
        ("qty", "quantity", "int32"),
        ("price", "unit_price", "decimal(10,2)"),
    ):
        _add_row(driver, _css(driver, f'tr[data-item-path="{path}"]'), name, type_, name)
    assert "item sku" in _css(driver, '#declared tr[data-column="sku"]').text

    # The product's name, looked up on the item column `sku`.
    Select(_css(driver, "#lk-table")).select_by_value("products")
    _settle(driver)
    on = Select(_css(driver, "#lk-on"))
    (sku,) = [o for o in on.options if o.text.startswith("sku = products.sku")]
    on.select_by_value(sku.get_attribute("value"))
    row = _css(driver, 'tr[data-lookup-column="name"]')
    row.find_element(By.CSS_SELECTOR, "input.pick").click()
    as_field = row.find_element(By.CSS_SELECTOR, "input.as")
    as_field.clear()
    as_field.send_keys("product_name")
    driver.find_element(By.ID, "lk-add").click()
    _css(driver, 'tr[data-looked-up="name"]')
    _settle(driver)

    _finish(driver, "order_id, item_index")
    assert "no problems" in _css(driver, "#problems").text
    _shoot(driver, "#explode-section", shots / "10-explode.png")
    _publish_and_compare(driver, studio_project, "order_items", demo)


def test_build_and_publish_customer_profiles_with_flatten_by_clicking(
    studio_url: str, browser: WebDriver, studio_project: Project, shots: Path
) -> None:
    driver = browser
    demo = _start(driver, studio_url, "customer_profiles", "customers")
    for column, name, type_ in (
        ("id", "customer_id", "uint64"),
        ("email", "email", "string"),
        ("full_name", "full_name", "string"),
        ("tier", "tier", "string"),
        ("is_active", "is_active", "bool"),
        ("birth_date", "birth_date", "date"),
        ("legacy_signup", "legacy_signup", "timestamp"),
    ):
        _add_row(driver, _css(driver, f'tr[data-source-column="{column}"]'), name, type_, name)
    _css(driver, '[data-json="profile"]')
    _css(driver, "button.sample").click()
    _add_row(driver, _css(driver, 'tr[data-path="score"]'), "score", "float64", "score")

    # A bad depth first: the validator's words beside the flatten entry, then the demo's.
    Select(_css(driver, "#fl-json")).select_by_value("profile")
    _css(driver, "#fl-prefix").send_keys("profile_")
    _fill(driver, _css(driver, "#fl-depth"), "9")
    driver.find_element(By.ID, "fl-add").click()
    _settle(driver)
    error = _css(driver, 'tr[data-flatten="0"] .err')
    assert "attributes.flatten.0.max_depth" in error.text
    _fill(driver, _css(driver, 'tr[data-flatten="0"] input.depth'), "2")
    assert not driver.find_elements(By.CSS_SELECTOR, 'tr[data-flatten="0"] .err')
    assert _css(driver, 'tr[data-flatten="0"] input.prefix').get_attribute("value") == "profile_"

    _finish(driver, "customer_id")
    _fill(driver, _css(driver, "#f-schedule"), "0 * * * *")
    _shoot(driver, "#flatten-section", shots / "11-flatten.png")
    _publish_and_compare(driver, studio_project, "customer_profiles", demo)


def test_a_period_lookup_and_required_typed_columns_by_clicking(
    studio_url: str, browser: WebDriver, studio_project: Project, shots: Path
) -> None:
    driver = browser
    driver.get(studio_url + "/")
    _settle(driver)
    _fill(driver, _css(driver, "#f-name"), "order_customers")
    Select(_css(driver, "#f-source")).select_by_value("orders")
    _settle(driver)
    for column, name, type_ in (
        ("id", "order_id", "uint64"),
        ("customer_id", "customer_id", "uint64"),
        ("created_at", "created_at", "timestamp"),
    ):
        _add_row(driver, _css(driver, f'tr[data-source-column="{column}"]'), name, type_, name)
    _css(driver, '#declared tr[data-column="order_id"] input.required').click()
    _settle(driver)

    Select(_css(driver, "#lk-table")).select_by_value("customers")
    _settle(driver)
    for column, output, type_, required in (
        ("tier", "customer_tier", "string", True),
        ("email", "email", "", False),
    ):
        row = _css(driver, f'tr[data-lookup-column="{column}"]')
        row.find_element(By.CSS_SELECTOR, "input.pick").click()
        as_field = row.find_element(By.CSS_SELECTOR, "input.as")
        as_field.clear()
        as_field.send_keys(output)
        row.find_element(By.CSS_SELECTOR, "input.type").send_keys(type_)
        if required:
            row.find_element(By.CSS_SELECTOR, "input.required").click()
    driver.find_element(By.ID, "lk-add").click()
    _css(driver, 'tr[data-looked-up="tier"]')
    _settle(driver)

    # The period: the order's created_at within the customer's [created_at, updated_at).
    view = Select(_css(driver, '[data-lookup="0"] select.period-view'))
    assert [o.get_attribute("value") for o in view.options] == ["", "created_at", "updated_at"]
    view.select_by_value("created_at")
    _settle(driver)
    frm = Select(_css(driver, '[data-lookup="0"] select.period-from'))
    assert [o.get_attribute("value") for o in frm.options] == [
        "",
        "birth_date",
        "legacy_signup",
        "created_at",
        "updated_at",
    ]
    frm.select_by_value("created_at")
    _settle(driver)
    Select(_css(driver, '[data-lookup="0"] select.period-to')).select_by_value("updated_at")
    _settle(driver)
    _fill(driver, _css(driver, "#f-unique_key"), "order_id")

    # A bad type on the looked-up column: its error beside it.
    _fill(driver, _css(driver, 'tr[data-looked-up="tier"] input.type'), "decimal(99,2)")
    error = _css(driver, 'tr[data-looked-up="tier"] .err')
    assert "attributes.lookups.0.columns.tier" in error.text
    _shoot(driver, "#declared", shots / "12-lookup-period.png")
    _fill(driver, _css(driver, 'tr[data-looked-up="tier"] input.type'), "string")
    assert "no problems" in _css(driver, "#problems").text

    text = _css(driver, "#yaml").get_attribute("value")
    assert "    order_id: {from: id, type: uint64, nullable: false}\n" in text
    assert (
        "      on: {customer_id: id}\n"
        "      period: {view: created_at, from: created_at, to: updated_at}\n"
        "      columns: {email: email, tier: {as: customer_tier, type: string, nullable: false}}\n"
    ) in text


def test_a_shard_that_cannot_be_reached_is_sampled_from_the_lake(
    studio_project: Project,
    browser: WebDriver,
    shots: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ETL_TEST_DEAD_URL", f"mysql://root@127.0.0.1:{free_port()}/")
    driver = browser
    with serve(dead_shard_sources(tmp_path), studio_project) as url:
        driver.get(url + "/")
        _settle(driver)
        Select(_css(driver, "#f-source")).select_by_value("orders")
        _settle(driver)
        picker = Select(_css(driver, "select.shard-pick"))
        assert [o.get_attribute("value") for o in picker.options] == ["shard_00", "shard_01"]
        picker.select_by_value("shard_01")
        _css(driver, "button.sample").click()
        source = _css(driver, ".sample-source.from-lake")
        _settle(driver)
        assert "the lake's raw/shard_01/orders, the last" in source.text
        assert "shard shard_01 cannot be reached" in source.text
        assert _css(driver, 'tr[data-path="totals.grand_total"]')
        driver.save_screenshot(str(shots / "13-lake-sample.png"))
