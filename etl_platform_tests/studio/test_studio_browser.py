"""The studio in headless Chromium against the real server, shards and lake: the demo's
`orders_enriched` built by clicking (its `order_shipped` notification rule included), previewed,
published and compared with the demo's file; a bad field shows its error beside it; a name that
leaves the views folder is refused. The demo's `daily_orders` (a computed column, a report, a
second partitioning) built by clicking, a bad expression's error beside it, published and
compared with the demo's file.

Screenshots go to a temporary folder, or to `STUDIO_SCREENSHOTS` when set
(`STUDIO_SCREENSHOTS=docs/studio` refreshes the ones docs/studio.md shows)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from etl_platform.env import DEFAULTS_DIR
from etl_platform.specs.loader import read_yaml
from etl_platform_tests.studio.conftest import DAY, Project

pytestmark = pytest.mark.integration

SOURCE_COLUMNS = [
    ("id", "order_id", "uint64"),
    ("customer_id", "customer_id", "uint64"),
    ("status", "status", "string"),
    ("currency", "currency", "string"),
    ("total", "total", "decimal(12,2)"),
    ("is_gift", "is_gift", "bool"),
    ("version", "version", "int64"),
    ("created_at", "created_at", "timestamp"),
]
JSON_KEYS = [
    ("totals.grand_total", "grand_total", "decimal(12,2)"),
    ("totals.tax", "tax", "decimal(12,2)"),
    ("shipping.method", "shipping_method", "string"),
    ("shipping.address.city", "city", "string"),
    ("shipping.address.country", "country", "string"),
    ("coupon", "coupon", "string"),
    ("notes", "notes", "string"),
    ("items", "items_json", "json"),
]


def _settle(driver: WebDriver) -> None:
    """Until every call the page made has answered."""
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.body.dataset.busy") == "0"
    )


def _css(driver: WebDriver, selector: str, timeout: float = 30) -> WebElement:
    return WebDriverWait(driver, timeout).until(lambda d: d.find_element(By.CSS_SELECTOR, selector))


def _fill(driver: WebDriver, element: WebElement, value: str) -> None:
    """Type over the field's value as a user would, then leave it (its change event fires)."""
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(value, Keys.TAB)
    _settle(driver)


def _add_row(driver: WebDriver, row: WebElement, name: str, type_: str, column: str) -> None:
    for cls, value in (("name", name), ("type", type_)):
        field = row.find_element(By.CSS_SELECTOR, f"input.{cls}")
        field.clear()
        field.send_keys(value)
    row.find_element(By.CSS_SELECTOR, "button.add").click()
    _css(driver, f'#declared tr[data-column="{column}"]')
    _settle(driver)


def _lake_files(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*")}


def _add_order_shipped(driver: WebDriver, shots: Path) -> None:
    """The demo's `order_shipped` rule by clicking: a condition with a typo first, its error
    beside it, then the demo's."""
    demo = read_yaml(DEFAULTS_DIR / "views" / "orders_enriched" / "defs.yaml")
    assert isinstance(demo, dict)
    rule = demo["attributes"]["notifications"][0]
    _fill(driver, _css(driver, "#nf-name"), rule["name"])
    Select(_css(driver, "#nf-channel")).select_by_value("webhook")
    driver.find_element(By.ID, "nf-add").click()
    at = '[data-notification="0"]'
    _css(driver, at)
    _settle(driver)
    assert _css(driver, "#nf-name").get_attribute("value") == ""
    missing = _css(driver, f'{at} [data-field$=".channel.url_env"] .err').text
    assert "attributes.notifications.0.channel.webhook.url_env: Field required" in missing
    _fill(driver, _css(driver, f"{at} .nf-url_env"), rule["channel"]["url_env"])
    for key in ("description", "template", "rate_per_minute", "window"):
        _fill(driver, _css(driver, f"{at} .nf-{key}"), str(rule[key]))
    Select(_css(driver, f"{at} .nf-once_per")).select_by_value(rule["once_per"])
    _settle(driver)
    _fill(driver, _css(driver, f"{at} .nf-when"), rule["when"].replace("status", "statpast"))
    error = _css(driver, f'{at} [data-field$=".when"] .err').text
    assert "attributes.notifications.0.when" in error and "did you mean 'status'" in error
    _fill(driver, _css(driver, f"{at} .nf-when"), rule["when"])
    assert not driver.find_elements(By.CSS_SELECTOR, f"{at} .err")
    driver.execute_script("arguments[0].scrollIntoView()", _css(driver, "#notifications-section"))
    driver.save_screenshot(str(shots / "14-notifications.png"))


def test_build_preview_and_publish_orders_enriched_by_clicking(
    studio_url: str, browser: WebDriver, studio_project: Project, shots: Path
) -> None:
    driver = browser
    driver.get(studio_url + "/")
    _settle(driver)
    driver.save_screenshot(str(shots / "1-start.png"))

    _fill(driver, _css(driver, "#f-name"), "orders_enriched")
    _fill(
        driver,
        _css(driver, "#f-description"),
        "One row per order with its customer and shipping fields, so no JOIN is needed.",
    )
    Select(_css(driver, "#f-source")).select_by_value("orders")
    _settle(driver)
    id_row = _css(driver, 'tr[data-source-column="id"]')
    assert "bigint(20) unsigned" in id_row.text and "uint64" in id_row.text  # MySQL, Arrow
    for column, name, type_ in SOURCE_COLUMNS:
        row = _css(driver, f'tr[data-source-column="{column}"]')
        _add_row(driver, row, name, type_, name)

    _css(driver, '[data-json="payload"]')
    driver.find_element(By.CSS_SELECTOR, "button.sample").click()
    grand_total = _css(driver, 'tr[data-path="totals.grand_total"]')
    guessed = grand_total.find_element(By.CSS_SELECTOR, "input.type").get_attribute("value")
    assert guessed == "decimal(12,2)"  # the type `views new` guesses
    assert " / 400" in grand_total.text  # seen in how many of the sampled rows
    for path, name, type_ in JSON_KEYS:
        _add_row(driver, _css(driver, f'tr[data-path="{path}"]'), name, type_, name)
    driver.save_screenshot(str(shots / "2-columns.png"))

    Select(_css(driver, "#lk-table")).select_by_value("customers")
    _settle(driver)
    on = Select(_css(driver, "#lk-on"))
    assert on.first_selected_option.text.startswith("customer_id = customers.id")
    for column, output in (
        ("email", "customer_email"),
        ("tier", "customer_tier"),
        ("full_name", "customer_name"),
    ):
        row = _css(driver, f'tr[data-lookup-column="{column}"]')
        row.find_element(By.CSS_SELECTOR, "input.pick").click()
        as_field = row.find_element(By.CSS_SELECTOR, "input.as")
        as_field.clear()
        as_field.send_keys(output)
    driver.find_element(By.ID, "lk-add").click()
    _css(driver, '[data-field="attributes.lookups.0"]')
    _settle(driver)

    _fill(driver, _css(driver, "#f-unique_key"), "order_id")
    for box in driver.find_elements(By.CSS_SELECTOR, ".dest"):
        box.click()
        _settle(driver)
    _fill(driver, _css(driver, "#f-warn_after"), "1d")
    _fill(driver, _css(driver, "#f-fail_after"), "2d")
    _fill(driver, _css(driver, "#f-schedule"), "*/15 * * * *")
    _fill(driver, _css(driver, "#f-max_reject_ratio"), "0.05")
    _add_order_shipped(driver, shots)
    assert "no problems" in _css(driver, "#problems").text
    driver.execute_script("window.scrollTo(0, 0)")  # the defs.yaml panel, the whole file
    driver.save_screenshot(str(shots / "3-built.png"))

    # A bad field: its error, in the validator's words, beside the column it names.
    total_type = _css(driver, 'tr[data-column="total"] input.type')
    _fill(driver, total_type, "decimal(99,2)")
    error = _css(driver, 'tr[data-column="total"] .err')
    assert "attributes.columns.total.type" in error.text
    assert "decimal needs 1 <= precision <= 38" in error.text
    driver.save_screenshot(str(shots / "4-error.png"))
    _fill(driver, _css(driver, 'tr[data-column="total"] input.type'), "decimal(12,2)")
    assert "no problems" in _css(driver, "#problems").text

    # Preview the day on both shards: the real transform, nothing written to the lake.
    before = _lake_files(studio_project.lake)
    Select(_css(driver, "#pv-day")).select_by_value(str(DAY))
    started = time.monotonic()
    driver.find_element(By.ID, "preview").click()
    counts = _css(driver, "#pv-counts")
    _settle(driver)
    assert time.monotonic() - started < 10
    assert f"{DAY} on shard_00, shard_01" in counts.text
    assert "rejected" in counts.text and "orphans" in counts.text
    out = driver.find_element(By.ID, "pv-out").text
    assert "grand_total" in out and "Decimal(precision=12, scale=2)" in out
    assert "invalid JSON" in out or "not a JSON object" in out or "Rejects (0)" in out
    assert _lake_files(studio_project.lake) == before
    driver.save_screenshot(str(shots / "5-preview.png"))

    driver.find_element(By.ID, "diff").click()
    _settle(driver)
    assert "+  name: orders_enriched" in _css(driver, "#pub-diff").text
    driver.find_element(By.ID, "publish").click()
    _settle(driver)
    assert "published" in _css(driver, "#pub-status").text
    driver.save_screenshot(str(shots / "6-published.png"))

    written = studio_project.views / "orders_enriched" / "defs.yaml"
    demo = read_yaml(DEFAULTS_DIR / "views" / "orders_enriched" / "defs.yaml")
    mine = read_yaml(written)
    assert isinstance(demo, dict) and isinstance(mine, dict)
    assert list(mine["attributes"]) == list(demo["attributes"])  # every field, by the form
    assert mine["attributes"]["notifications"] == demo["attributes"]["notifications"]
    assert mine == demo

    # Editing it again loads the file as it is, and saving it unchanged changes nothing.
    Select(_css(driver, "#existing")).select_by_value("orders_enriched")
    driver.find_element(By.ID, "load").click()
    _settle(driver)
    assert _css(driver, "#yaml").get_attribute("value") == written.read_text()

    # A name that leaves the views folder is refused, and nothing is written.
    _fill(driver, _css(driver, "#f-name"), "../escaped")
    assert "not a plain name" in _css(driver, '[data-field="attributes.name"] .err').text
    driver.find_element(By.ID, "publish").click()
    _settle(driver)
    status = _css(driver, "#pub-status")
    assert "not a plain name" in status.text and "err" in status.get_attribute("class")
    assert not (studio_project.views.parent / "escaped").exists()
    assert "escaped" not in {p.name for p in studio_project.views.iterdir()}
    driver.save_screenshot(str(shots / "7-refused.png"))


REPORT_COLUMNS = [
    ("id", "order_id", "uint64"),
    ("customer_id", "customer_id", "uint64"),
    ("status", "status", "string"),
    ("currency", "currency", "string"),
    ("total", "total", "decimal(12,2)"),
    ("created_at", "created_at", "timestamp"),
]
MEASURES = [
    ("orders", "count", ""),
    ("revenue", "sum", "total"),
    ("customers", "count_distinct", "customer_id"),
    ("average_total", "avg", "total"),
    ("largest_total", "max", "total"),
]


def test_build_and_publish_the_daily_orders_report_by_clicking(
    studio_url: str, browser: WebDriver, studio_project: Project, shots: Path
) -> None:
    driver = browser
    driver.get(studio_url + "/")
    _settle(driver)
    demo = read_yaml(DEFAULTS_DIR / "views" / "daily_orders" / "defs.yaml")
    assert isinstance(demo, dict)
    _fill(driver, _css(driver, "#f-name"), "daily_orders")
    _fill(driver, _css(driver, "#f-description"), demo["attributes"]["description"])
    Select(_css(driver, "#f-source")).select_by_value("orders")
    _settle(driver)
    for column, name, type_ in REPORT_COLUMNS:
        _add_row(driver, _css(driver, f'tr[data-source-column="{column}"]'), name, type_, name)
    assert not driver.find_element(By.ID, "history-field").is_displayed()  # not a cdc source

    # A computed column with a typo: the validator's words beside its expression.
    for field, value in (("#cc-name", "order_day"), ("#cc-expr", "DATE(created_att)")):
        _css(driver, field).send_keys(value)
    _css(driver, "#cc-type").send_keys("date")
    driver.find_element(By.ID, "cc-add").click()
    _css(driver, '#computed tr[data-computed="order_day"]')
    _settle(driver)
    error = _css(driver, '[data-field="attributes.columns.order_day.expr"] .err')
    assert "attributes.columns.order_day.expr" in error.text
    assert "unknown column 'created_att' (did you mean 'created_at'?)" in error.text
    driver.save_screenshot(str(shots / "8-expression-error.png"))
    _fill(driver, _css(driver, 'tr[data-computed="order_day"] input.expr'), "DATE(created_at)")
    assert not driver.find_elements(By.CSS_SELECTOR, 'tr[data-computed="order_day"] .err')
    _fill(driver, _css(driver, "#f-unique_key"), "order_id")

    # The report: grain columns in the order picked, measures, across shards.
    for column in ("order_day", "currency", "status"):
        _css(driver, f'#grain input[value="{column}"]').click()
        _settle(driver)
    for name, function, column in MEASURES:
        _css(driver, "#ms-name").send_keys(name)
        Select(_css(driver, "#ms-fn")).select_by_value(function)
        Select(_css(driver, "#ms-column")).select_by_value(column)
        driver.find_element(By.ID, "ms-add").click()
        _css(driver, f'tr[data-measure="{name}"]')
        _settle(driver)
    _css(driver, "#f-across_shards").click()
    _settle(driver)
    partition = Select(_css(driver, "#f-partition_by"))
    assert [o.get_attribute("value") for o in partition.options] == ["", "created_at", "order_day"]
    partition.select_by_value("order_day")
    _settle(driver)
    _css(driver, '.dest[value="athena"]').click()
    _settle(driver)
    _fill(driver, _css(driver, "#f-fail_after"), "2d")
    assert "no problems" in _css(driver, "#problems").text
    driver.save_screenshot(str(shots / "9-report.png"))

    driver.find_element(By.ID, "publish").click()
    _settle(driver)
    assert "published" in _css(driver, "#pub-status").text
    mine = read_yaml(studio_project.views / "daily_orders" / "defs.yaml")
    assert isinstance(mine, dict)
    assert mine == demo
    assert list(mine["attributes"]["grain"]) == ["order_day", "currency", "status"]
