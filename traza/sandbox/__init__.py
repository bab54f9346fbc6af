"""The local sandbox: ``traza sandbox`` runs the real Traza against in-process stand-ins of the Slack
Web API and the Graph API (:mod:`traza.sandbox.fakes`, also the test suite's fakes) and serves a web
console that plays the customer's phone and the Slack users through signed requests only."""
