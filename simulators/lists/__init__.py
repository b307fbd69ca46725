"""Shared core of the six list authorities' simulators (court, tax, hrss, emergency, statistics,
civil_affairs); each authority's own dialect lives in its own package."""
