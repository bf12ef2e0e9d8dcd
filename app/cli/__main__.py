"""`python -m app.cli`: the same as the `jingce` command."""

from app.cli import main

main()
