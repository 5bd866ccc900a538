"""Test doubles shipped with the product for the offline demo and the test suite.

Product code never imports this package (an import-linter contract in `make test`);
`bot.demo` imports it explicitly.
"""
