-- The demo shop's schema: the same on every shard database (shop_00 .. shop_11).
-- It carries on purpose what real application shards carry: JSON kept in LONGTEXT without a
-- json_valid() check (so malformed values exist), unsigned BIGINT ids, DECIMAL money,
-- TINYINT(1) flags, ENUM/SET, YEAR, BLOB, DATETIME(6) and TIMESTAMP(6) cursors, a legacy
-- column holding zero dates, and one table (products) with no index on its cursor column.

CREATE TABLE customers (
  id             BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  email          VARCHAR(255)    NOT NULL,
  full_name      VARCHAR(255)    CHARACTER SET utf8mb4 NOT NULL,
  tier           ENUM('free','pro','enterprise') NOT NULL DEFAULT 'free',
  is_active      TINYINT(1)      NOT NULL DEFAULT 1,
  profile        LONGTEXT        CHARACTER SET utf8mb4 NULL,   -- JSON text, may be NULL or malformed
  bio            MEDIUMTEXT      CHARACTER SET utf8mb4 NULL,   -- sometimes very long
  birth_date     DATE            NULL,
  legacy_signup  DATETIME        NULL,                         -- holds '0000-00-00 00:00:00' for old rows
  created_at     DATETIME(6)     NOT NULL,
  updated_at     DATETIME(6)     NOT NULL,
  KEY idx_customers_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE products (
  id             INT UNSIGNED    NOT NULL PRIMARY KEY,
  sku            VARCHAR(64)     NOT NULL,
  name           VARCHAR(255)    CHARACTER SET utf8mb4 NOT NULL,
  price          DECIMAL(10,2)   NOT NULL,
  weight_kg      DOUBLE          NULL,
  tags           SET('new','sale','eco','fragile') NOT NULL DEFAULT '',
  launched       YEAR            NULL,
  thumbnail      BLOB            NULL,
  attributes     LONGTEXT        CHARACTER SET utf8mb4 NULL,   -- JSON text
  updated_at     TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6)  -- no index: the extractor warns
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE orders (
  id             BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  customer_id    BIGINT UNSIGNED NOT NULL,
  status         ENUM('pending','paid','shipped','delivered','cancelled','refunded') NOT NULL,
  currency       CHAR(3)         NOT NULL,
  total          DECIMAL(12,2)   NOT NULL,
  is_gift        TINYINT(1)      NOT NULL DEFAULT 0,
  version        INT UNSIGNED    NOT NULL DEFAULT 1,           -- how many times the row was updated
  payload        LONGTEXT        CHARACTER SET utf8mb4 NULL,   -- JSON text, nested; may be NULL or malformed
  created_at     DATETIME(6)     NOT NULL,
  updated_at     DATETIME(6)     NOT NULL,
  KEY idx_orders_updated_at (updated_at),
  KEY idx_orders_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE order_events (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id       BIGINT UNSIGNED NOT NULL,
  event_type     ENUM('created','paid','shipped','delivered','cancelled','refunded','note') NOT NULL,
  event_data     LONGTEXT        CHARACTER SET utf8mb4 NULL,   -- JSON text
  occurred_at    DATETIME(6)     NOT NULL,
  updated_at     DATETIME(6)     NOT NULL,
  KEY idx_order_events_updated_at (updated_at),
  KEY idx_order_events_order (order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
