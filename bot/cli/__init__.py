"""One module per command group of `python app.py`; each has `add_parser(subparsers)` and `run(args, components)`."""
