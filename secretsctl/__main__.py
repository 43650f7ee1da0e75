from secretsctl.cli import app

app(prog_name="secretsctl")
