"""Cloudflare Secrets Store as code: spec, rotation state machine and Pulumi components.

`spec`, `rotation`, `schemas` and `errors` are pure (no Pulumi, no I/O);
`store`, `secret`, `worker`, `promotion` and `program` are the Pulumi layer.
Import the Pulumi layer from its modules, so the pure core stays light.
"""
