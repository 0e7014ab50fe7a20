"""What the forge's and conformance's typer applications share."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from . import __version__


def new_app() -> typer.Typer:
    """A typer application: help without arguments, no shell completion, plain tracebacks."""
    return typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def version_option(program: str) -> Any:
    """The type of a ``--version`` option that prints ``<program> <version>`` and exits."""

    def show(value: bool) -> None:
        if value:
            print(f"{program} {__version__}")
            raise typer.Exit()

    return Annotated[bool, typer.Option("--version", callback=show, is_eager=True, help="Print the version and exit.")]
