"""The offline demo newsroom and the loopback HTTP server it (and the tests) run on."""
