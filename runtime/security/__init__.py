"""Zero trust between sidecars: the CA, workload certificates, mTLS contexts, access control."""

__all__: list[str] = []
