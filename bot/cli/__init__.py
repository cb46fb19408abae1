"""One module per command group of `python app.py`.

Each has `add_parser(subparsers) -> list[str]` and `run(args, components) -> int`.
"""
