"""Seed shards shaped like MySQL's sample `employees` database: few rows, many years.

    python -m bench.employees.seed --host 127.0.0.1 --port 3306 --prefix bench_emp_ \
        --shards 2 --employees 1000 --years 17 [--end YYYY-MM-DD] [--days N] [--single-row]

Why this shape: the sample database has about 10 salary rows per employee, one a year, over
~17 years, so its ~6,400 days are mostly empty. A platform that pays per day (a partition, an
event, a file per day) pays for the calendar there, not for the rows; this data makes that
visible. Every database `<prefix>NN` is dropped and re-created (idempotent), and the rows come
from one seeded random generator per employee (deterministic for a given `--end`).

`--single-row` gives each employee one salary, title and department row dated on its hire day:
with `--days N` the rows stay the same in number whatever N, which is the scaling axis.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import random
import re
import time
from collections.abc import Sequence

import pymysql

#: `to_date` of a period that has not ended, as in the sample database.
CURRENT = dt.date(9999, 1, 1)
DEPARTMENTS = (
    ("d001", "Marketing"),
    ("d002", "Finance"),
    ("d003", "Human Resources"),
    ("d004", "Production"),
    ("d005", "Development"),
    ("d006", "Quality Management"),
    ("d007", "Sales"),
    ("d008", "Research"),
    ("d009", "Customer Service"),
)
#: Careers: each employee follows one track, promoted every 4 to 8 years.
TITLE_TRACKS = (
    ("Staff", "Senior Staff"),
    ("Engineer", "Senior Engineer", "Technique Leader"),
    ("Assistant Engineer", "Engineer", "Senior Engineer"),
    ("Staff", "Senior Staff", "Manager"),
)
FIRST_NAMES = (
    "Georgi", "Bezalel", "Parto", "Chirstian", "Kyoichi", "Anneke", "Tzvetan", "Saniya",
    "Sumant", "Duangkaew", "Mary", "Patricio", "Eberhardt", "Berni", "Guoxiang", "Kazuhito",
    "Cristinel", "Kazuhide", "Lillian", "Mayuko", "Ramzi", "Shahaf", "Bojan", "Suzette",
)  # fmt: skip
LAST_NAMES = (
    "Facello", "Simmel", "Bamford", "Koblick", "Maliniak", "Preusig", "Zielinski", "Kalloufi",
    "Peac", "Piveteau", "Sluis", "Bridgland", "Terkki", "Genin", "Nooteboom", "Cappelletti",
    "Bouloucos", "Peha", "Haddadi", "Warwick", "Erde", "Famili", "Montemayor", "Pettey",
)  # fmt: skip
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: The sample's tables (plus `updated_at` on employees, the platform's cursor), with an index
#: on every cursor column so that a day's query is a range scan, not a full one.
SCHEMA = (
    """CREATE TABLE employees (
        emp_no INT NOT NULL,
        birth_date DATE NOT NULL,
        first_name VARCHAR(14) NOT NULL,
        last_name VARCHAR(16) NOT NULL,
        gender ENUM('M', 'F') NOT NULL,
        hire_date DATE NOT NULL,
        updated_at DATE NOT NULL,
        PRIMARY KEY (emp_no),
        KEY updated_at (updated_at)
    ) ENGINE=InnoDB""",
    """CREATE TABLE departments (
        dept_no CHAR(4) NOT NULL,
        dept_name VARCHAR(40) NOT NULL,
        PRIMARY KEY (dept_no),
        UNIQUE KEY dept_name (dept_name)
    ) ENGINE=InnoDB""",
    """CREATE TABLE dept_emp (
        emp_no INT NOT NULL,
        dept_no CHAR(4) NOT NULL,
        from_date DATE NOT NULL,
        to_date DATE NOT NULL,
        PRIMARY KEY (emp_no, dept_no),
        KEY from_date (from_date)
    ) ENGINE=InnoDB""",
    """CREATE TABLE titles (
        emp_no INT NOT NULL,
        title VARCHAR(50) NOT NULL,
        from_date DATE NOT NULL,
        to_date DATE,
        PRIMARY KEY (emp_no, title, from_date),
        KEY from_date (from_date)
    ) ENGINE=InnoDB""",
    """CREATE TABLE salaries (
        emp_no INT NOT NULL,
        from_date DATE NOT NULL,
        salary INT NOT NULL,
        to_date DATE NOT NULL,
        PRIMARY KEY (emp_no, from_date),
        KEY from_date (from_date)
    ) ENGINE=InnoDB""",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "departments": ("dept_no", "dept_name"),
    "employees": (
        "emp_no",
        "birth_date",
        "first_name",
        "last_name",
        "gender",
        "hire_date",
        "updated_at",
    ),
    "salaries": ("emp_no", "from_date", "salary", "to_date"),
    "dept_emp": ("emp_no", "dept_no", "from_date", "to_date"),
    "titles": ("emp_no", "title", "from_date", "to_date"),
}
TABLES = tuple(COLUMNS)
FIRST_EMP_NO = 10001  # the sample's first employee number

Row = tuple[object, ...]


@dataclasses.dataclass(frozen=True)
class Shape:
    """The days the history covers, [start, end], and whether each employee has one row."""

    start: dt.date
    end: dt.date
    single_row: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclasses.dataclass(frozen=True)
class SeedReport:
    """What a seeding did: the databases, the days covered, rows per database and table."""

    databases: tuple[str, ...]
    start: str
    end: str
    days: int
    employees: int
    single_row: bool
    seed: int
    rows: dict[str, dict[str, int]]
    seconds: float


def history_start(end: dt.date, years: int) -> dt.date:
    """`end` minus `years` calendar years (29 February becomes the 28th)."""
    try:
        return end.replace(year=end.year - years)
    except ValueError:
        return end.replace(year=end.year - years, day=28)


def employee_rows(emp_no: int, shape: Shape, seed: int) -> dict[str, list[Row]]:
    """One employee's rows in every table; its own generator, so adding employees or shards
    leaves every other employee's rows as they were."""
    rng = random.Random(f"{seed}:{emp_no}")
    span = shape.days - 1
    if shape.single_row:
        hire = shape.start + dt.timedelta(days=rng.randint(0, span))
    else:
        # Most hires early in the history, as in the sample: long careers, ~1 salary row a year.
        hire = shape.start + dt.timedelta(days=int(span * rng.random() ** 2))
    birth = hire - dt.timedelta(days=rng.randint(20 * 365, 60 * 365))
    employee: Row = (
        emp_no,
        birth,
        rng.choice(FIRST_NAMES),
        rng.choice(LAST_NAMES),
        rng.choice("MF"),
        hire,
        hire,
    )
    dept = rng.choice(DEPARTMENTS)[0]
    track = rng.choice(TITLE_TRACKS)
    salary = rng.randint(40_000, 70_000)
    if shape.single_row:
        return {
            "employees": [employee],
            "salaries": [(emp_no, hire, salary, CURRENT)],
            "dept_emp": [(emp_no, dept, hire, CURRENT)],
            "titles": [(emp_no, track[0], hire, CURRENT)],
        }
    tenure = (shape.end - hire).days
    left = hire + dt.timedelta(days=rng.randint(365, tenure)) if tenure > 400 else None
    if rng.random() >= 0.1:
        left = None  # ~10% have left; the others' periods are open (9999-01-01)
    last_day = left or shape.end
    closing = left or CURRENT
    return {
        "employees": [employee],
        "salaries": _salaries(rng, emp_no, hire, last_day, closing, salary),
        "dept_emp": _departments(rng, emp_no, dept, hire, last_day, closing),
        "titles": _titles(rng, emp_no, track, hire, last_day, closing),
    }


def _salaries(
    rng: random.Random, emp_no: int, hire: dt.date, last: dt.date, closing: dt.date, salary: int
) -> list[Row]:
    """A raise every 330 to 400 days from the hire day, each period ending at the next."""
    rows: list[Row] = []
    start = hire
    while start <= last:
        following = start + dt.timedelta(days=rng.randint(330, 400))
        rows.append((emp_no, start, salary, following if following <= last else closing))
        salary = int(salary * (1 + rng.uniform(0.0, 0.08)))
        start = following
    return rows


def _departments(
    rng: random.Random, emp_no: int, dept: str, hire: dt.date, last: dt.date, closing: dt.date
) -> list[Row]:
    """One department; ~10% of those with over two years move once to another."""
    tenure = (last - hire).days
    if tenure > 730 and rng.random() < 0.1:
        moved = hire + dt.timedelta(days=rng.randint(365, tenure - 1))
        other = rng.choice([d for d, _ in DEPARTMENTS if d != dept])
        return [(emp_no, dept, hire, moved), (emp_no, other, moved, closing)]
    return [(emp_no, dept, hire, closing)]


def _titles(
    rng: random.Random,
    emp_no: int,
    track: tuple[str, ...],
    hire: dt.date,
    last: dt.date,
    closing: dt.date,
) -> list[Row]:
    """The track's titles in order, a promotion every 4 to 8 years while employed."""
    rows: list[Row] = []
    start = hire
    for i, title in enumerate(track):
        promoted = start + dt.timedelta(days=rng.randint(4 * 365, 8 * 365))
        is_last = i == len(track) - 1 or promoted > last
        rows.append((emp_no, title, start, closing if is_last else promoted))
        if is_last:
            break
        start = promoted
    return rows


def generate(employees: int, shards: int, shape: Shape, seed: int) -> list[dict[str, list[Row]]]:
    """Every shard's rows: employees numbered from 10001, split in contiguous equal parts."""
    out: list[dict[str, list[Row]]] = [
        {"departments": list(DEPARTMENTS), **{t: [] for t in TABLES if t != "departments"}}
        for _ in range(shards)
    ]
    for i in range(employees):
        shard = out[i * shards // employees]
        for table, rows in employee_rows(FIRST_EMP_NO + i, shape, seed).items():
            shard[table].extend(rows)
    return out


def seed_shards(
    *,
    host: str,
    port: int,
    user: str = "root",
    password: str = "",
    prefix: str = "bench_emp_",
    shards: int = 2,
    employees: int = 1000,
    shape: Shape,
    seed: int = 42,
    chunk_rows: int = 5000,
) -> SeedReport:
    """Drop, re-create and fill `<prefix>00` .. `<prefix>NN`; bulk inserts of `chunk_rows`."""
    if not IDENTIFIER.fullmatch(prefix):
        raise ValueError(f"--prefix {prefix!r} is not a plain identifier")
    started = time.perf_counter()
    databases = tuple(f"{prefix}{i:02d}" for i in range(shards))
    counts: dict[str, dict[str, int]] = {}
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=False)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION unique_checks = 0")
            for database, rows in zip(
                databases, generate(employees, shards, shape, seed), strict=True
            ):
                cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
                cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
                cursor.execute(f"USE `{database}`")
                for ddl in SCHEMA:
                    cursor.execute(ddl)
                for table in TABLES:
                    _insert(cursor, table, rows[table], chunk_rows)
                conn.commit()
                counts[database] = {t: len(rows[t]) for t in TABLES}
    finally:
        conn.close()
    return SeedReport(
        databases=databases,
        start=shape.start.isoformat(),
        end=shape.end.isoformat(),
        days=shape.days,
        employees=employees,
        single_row=shape.single_row,
        seed=seed,
        rows=counts,
        seconds=round(time.perf_counter() - started, 2),
    )


def _insert(cursor: pymysql.cursors.Cursor, table: str, rows: Sequence[Row], chunk: int) -> None:
    """`executemany` in chunks: pymysql folds each into multi-row INSERTs."""
    names = ", ".join(f"`{c}`" for c in COLUMNS[table])
    marks = ", ".join(["%s"] * len(COLUMNS[table]))
    sql = f"INSERT INTO `{table}` ({names}) VALUES ({marks})"
    for i in range(0, len(rows), chunk):
        cursor.executemany(sql, rows[i : i + chunk])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--prefix", default="bench_emp_")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--employees", type=int, default=1000, help="in all, split between shards")
    parser.add_argument("--years", type=int, default=17, help="history before --end")
    parser.add_argument(
        "--days", type=int, help="history of exactly N days ending at --end (instead of --years)"
    )
    parser.add_argument(
        "--end", type=dt.date.fromisoformat, help="last day of history (default: today, UTC)"
    )
    parser.add_argument(
        "--single-row",
        action="store_true",
        help="one salary/title/department row per employee, on its hire day",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk-rows", type=int, default=5000)
    return parser


def shape_from_args(args: argparse.Namespace) -> Shape:
    """The history's days from --end and --years (or --days)."""
    end = args.end or dt.datetime.now(dt.UTC).date()
    if args.days is not None:
        if args.days < 1:
            raise SystemExit("--days must be at least 1")
        start = end - dt.timedelta(days=args.days - 1)
    else:
        start = history_start(end, args.years)
    return Shape(start=start, end=end, single_row=args.single_row)


def main(argv: Sequence[str] | None = None) -> SeedReport:
    args = build_parser().parse_args(argv)
    if args.employees < args.shards:
        raise SystemExit("--employees must be at least --shards")
    report = seed_shards(
        host=args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        prefix=args.prefix,
        shards=args.shards,
        employees=args.employees,
        shape=shape_from_args(args),
        seed=args.seed,
        chunk_rows=args.chunk_rows,
    )
    print(
        f"seeded {', '.join(report.databases)}: {report.employees} employees, "
        f"{report.start} .. {report.end} ({report.days} days) in {report.seconds}s"
    )
    for database, counts in report.rows.items():
        print(f"  {database}: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    return report


if __name__ == "__main__":
    main()
