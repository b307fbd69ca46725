"""Typed keys for what the application carries (STYLE.md §7)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.auth import CLIENT, GATEKEEPER
from gateway.api.decisions import DecisionRequest
from gateway.api.idempotency import InFlight, StoredResponse
from gateway.runtime import Runtime
from gateway.store.bulk import Bulk

RUNTIME = web.AppKey("runtime", Runtime)
IN_FLIGHT = web.AppKey("in_flight", InFlight)
DECISIONS = web.AppKey[Bulk[DecisionRequest, StoredResponse]]("decisions")
OPENAPI_DOCUMENT = web.AppKey[dict[str, Any]]("openapi_document")

__all__ = ["CLIENT", "DECISIONS", "GATEKEEPER", "IN_FLIGHT", "OPENAPI_DOCUMENT", "RUNTIME"]
