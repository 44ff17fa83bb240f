"""``kenning demo``: the synthetic brand, generated, loaded through the real API, served."""

import typer

app = typer.Typer(help="The synthetic brand.", invoke_without_command=True)
