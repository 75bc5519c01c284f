"""Shared code of the delivery-guarantees functions, shipped as the SharedLayer.

Domain functions (billing, welcome_email, signup) know nothing of Lambda events; every
side effect sits behind a small protocol in `adapters`, so tests and fault injection can
swap or wrap it.
"""
