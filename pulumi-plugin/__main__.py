"""Entry point of the `secrets-store` Pulumi plugin.

Pulumi's Python language host runs a source plugin as `python <plugin folder> <engine address>`,
which runs this file. It serves the components of `secrets_store.plugin` over gRPC.
"""

from secrets_store.plugin import main

if __name__ == "__main__":
    main()
