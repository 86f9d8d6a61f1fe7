"""Windows read from a database through SQLAlchemy, one query per window.

The spec stores the URL with its password replaced by "***" (see `data.spec.redact_url`). Such a URL
is completed from `DATA_SQL_URL` in the environment of the process that loads the data, which must
name the same database. Without a timestamp column or an ORDER BY, a database may return rows in any
order, and a split without timestamps then follows that order.
"""

from __future__ import annotations

import logging

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from data.base import BaseDataLoader, DataLoaderError, DataWindows
from data.options import parse_options
from data.schema_rules import build_schema, parse_timestamps
from watchtower.settings import get_settings

logger = logging.getLogger(__name__)

_REDACTED = "***"


class SqlOptions(BaseModel):
    """Options of the sql source, as stored in `DataSpec.options`."""

    model_config = ConfigDict(extra="forbid")

    url: str
    reference_query: str
    current_query: str
    timestamp: str | None = None
    target: str | None = None
    prediction: str | None = None
    categorical: list[str] = Field(default_factory=list)
    features: list[str] | None = None


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise DataLoaderError(
            "invalid SQL URL: it is not an SQLAlchemy URL such as 'sqlite:///path/to/file.db'"
        ) from exc


def resolve_url(url: str) -> URL:
    """Return the URL to connect with, taking a redacted password from `DATA_SQL_URL`."""
    parsed = _parse_url(url)
    if parsed.password != _REDACTED:
        return parsed

    configured = get_settings().data_sql_url
    if not configured:
        raise DataLoaderError(
            f"the SQL URL {url} has a redacted password; set DATA_SQL_URL with the password "
            "in the environment of this process"
        )
    full = _parse_url(configured)
    if full.render_as_string(hide_password=True) != parsed.render_as_string(hide_password=True):
        raise DataLoaderError(
            f"DATA_SQL_URL names {full.render_as_string(hide_password=True)}, not {url}; "
            "set it to the database the spec names"
        )
    return full


def _query(connection: Connection, query: str, role: str, safe_url: str) -> pd.DataFrame:
    try:
        return pd.read_sql_query(text(query), connection)
    except SQLAlchemyError as exc:
        # The driver's message names the table or column at fault; the URL is shown without password.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise DataLoaderError(
            f"the {role} query failed on {safe_url}: {reason}; check DATA_{role.upper()}_QUERY"
        ) from exc


class SqlDataLoader(BaseDataLoader):
    """Load the reference and current windows with one SQL query each."""

    def __init__(self, options: SqlOptions) -> None:
        self.options = options

    @classmethod
    def from_options(cls, options: dict[str, object]) -> SqlDataLoader:
        return cls(parse_options(SqlOptions, options, "sql"))

    def _read(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        url = resolve_url(self.options.url)
        safe_url = url.render_as_string(hide_password=True)
        try:
            engine = create_engine(url)
        except (ArgumentError, ImportError) as exc:
            raise DataLoaderError(f"failed to create an engine for {safe_url}: {exc}") from exc
        try:
            with engine.connect() as connection:
                reference = _query(connection, self.options.reference_query, "reference", safe_url)
                current = _query(connection, self.options.current_query, "current", safe_url)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DataLoaderError(
                f"failed to connect to {safe_url}: {reason}; check DATA_SQL_URL"
            ) from exc
        finally:
            engine.dispose()
        logger.info(
            "read %s reference and %s current rows from %s", len(reference), len(current), safe_url
        )
        return reference, current

    def load(self) -> DataWindows:
        reference, current = self._read()
        for role, frame in (("reference", reference), ("current", current)):
            if frame.empty:
                raise DataLoaderError(
                    f"the {role} query returned no rows; check DATA_{role.upper()}_QUERY"
                )
        if self.options.timestamp:
            timestamp = self.options.timestamp
            reference = parse_timestamps(reference, timestamp, "the reference query's result")
            current = parse_timestamps(current, timestamp, "the current query's result")
        options = self.options
        schema = build_schema(
            reference,
            current,
            target=options.target,
            prediction=options.prediction,
            timestamp=options.timestamp,
            categorical=options.categorical,
            features=options.features,
        )
        description: dict[str, object] = {
            "source": "sql",
            "url": _parse_url(options.url).render_as_string(hide_password=True),
            "reference_query": self.options.reference_query,
            "current_query": self.options.current_query,
        }
        return DataWindows(
            reference=reference, current=current, schema=schema, description=description
        )
