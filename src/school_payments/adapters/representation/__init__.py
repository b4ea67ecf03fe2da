"""The JSON representation of resources and statements: each shape declared once.

The models here are what the API documents (OpenAPI) *and* what it sends: each response is
serialised by its own model. The statement cache keeps the same bytes, and the PDF and CSV
renderings read them back through the same models. It is an adapter of its own, below the web
adapter, so that the application's renderer port is implemented here and never by the web layer.
"""
