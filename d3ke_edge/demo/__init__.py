"""The phone demo (``android_demo/``): what it is told (``config``), how it is served (``server``, ``certs``)."""
