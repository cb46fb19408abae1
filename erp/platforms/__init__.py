"""Marketplace connectors (Amazon SP-API, Shopee Open Platform v2) behind one interface."""
