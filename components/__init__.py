"""Backend adapters. Nothing here imports a backend driver at import time."""
