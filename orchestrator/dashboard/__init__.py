"""``cachemon dashboard``: one live page over the SQL read API (see docs/dashboard.md)."""

from __future__ import annotations

from orchestrator.dashboard.app import DashboardSettings, create_app

__all__ = ["DashboardSettings", "create_app"]
