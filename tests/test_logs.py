"""Every response and log line carries a request id; JSON logs are one object a line."""

from __future__ import annotations

import io
import json
import logging
import sys

from django.test import Client

from config.logs import JsonFormatter, RequestIdFilter, request_id


def test_a_request_gets_an_id_or_keeps_the_load_balancers(db):
    made = Client().get("/healthz")["X-Request-ID"]
    assert len(made) == 32
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="lb-1234abcd")["X-Request-ID"] == "lb-1234abcd"
    # Not an id (spaces, too long): replaced, never echoed into headers and logs.
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="x y" * 40)["X-Request-ID"] != "x y" * 40


def test_json_log_line_names_the_request():
    record = logging.LogRecord("onboarding", logging.WARNING, __file__, 1, "案件 %s 超时", ("ZL-1",), None)
    token = request_id.set("abc12345")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "案件 ZL-1 超时" and line["request_id"] == "abc12345" and line["level"] == "WARNING"


def test_a_403_is_logged_as_one_line_without_a_traceback(world, login, settings):
    import logging.config

    from django.test import Client

    # The settings' own logging (handler and its filters), its output captured.
    logging.config.dictConfig(settings.LOGGING)
    handler = logging.getLogger().handlers[0]
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        client = login(Client(), world.customer_x, mfa=False)
        assert client.post("/cases/new/").status_code == 403  # a customer posting to a staff page
    finally:
        handler.setStream(sys.stderr)  # type: ignore[attr-defined]
    lines = [line for line in stream.getvalue().splitlines() if "Forbidden" in line]
    assert len(lines) == 1, stream.getvalue()
    assert "Traceback" not in stream.getvalue() and "PermissionDenied" not in stream.getvalue()
