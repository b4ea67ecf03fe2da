"""Webhooks over HTTP: the URL guard (SSRF), the signed sender, and the delivery worker."""
