"""Log lines as JSON objects for a log collector (SERVER_LOG_FORMAT=json): time, level, logger,
message, the request id of the request being served (the same id its audit events carry) and the
structured fields a line was logged with (the access line's method, path, status, ms, actor)."""

from __future__ import annotations

import datetime as dt
import json
import logging

from app.audit.store import REQUEST_ID

# attributes every LogRecord has; anything else on a record was passed in `extra=` and is a field
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def uvicorn_log_config(log_format: str) -> dict:
    """uvicorn's logging with the app's access logger on its handler; its own access log stays off
    (it would print query strings — a citizen's question, an ID number in it)."""
    import copy

    import uvicorn

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["jingce.access"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["jingce"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    # every other logger's warnings (the app's modules, the libraries') on the same handler, in the same
    # format: a root without a handler would let a library install its own (the MCP SDK does)
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    if log_format == "json":
        config["formatters"]["default"] = {"()": f"{__name__}.JsonFormatter"}
    return config
