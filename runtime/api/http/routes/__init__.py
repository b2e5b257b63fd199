"""HTTP route groups; each module exposes ``routes: web.RouteTableDef``."""
