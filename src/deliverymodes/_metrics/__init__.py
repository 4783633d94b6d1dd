"""The exporters behind :mod:`deliverymodes.metrics`."""
