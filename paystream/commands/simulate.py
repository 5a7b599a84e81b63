"""placeholder"""
import typer
app = typer.Typer()

def simulate() -> None:
    """x"""
