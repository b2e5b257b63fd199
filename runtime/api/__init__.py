"""Protocol adapters: they parse, call a service and encode. No building-block logic here."""
