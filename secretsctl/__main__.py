from secretsctl.cli import main

main()
