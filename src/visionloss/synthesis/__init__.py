"""The synthesis family (one public loss per file; shared maths in private modules)."""

__all__: list[str] = []
