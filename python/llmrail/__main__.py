"""Command line: ``python -m llmrail demo | mock-server | serve | queue | batch | bench | prompts``."""

from __future__ import annotations

import argparse
import sys

from . import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmrail", description=f"llmrail {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="a chat, a stream and a tool call (mock server unless a key is set)")
    demo.add_argument("--model", help='"provider/model" to call for real (default: from the keys set)')
    demo.add_argument("--mock", action="store_true", help="use the built-in mock server even if a key is set")
    from ._batch_cli import add_parser as add_batch_parser
    from ._prompts_cli import add_parser as add_prompts
    from ._queue_cli import add_parser as add_queue
    from ._serve import add_parser as add_serve
    from .bench.cli import add_parser as add_bench

    for add in (add_serve, add_queue, add_batch_parser, add_bench, add_prompts):
        add(sub)
    sub.add_parser("mock-server", help="serve the mock OpenAI/Anthropic server until Ctrl-C", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from ._demo import run

        return run(model=args.model, force_mock=args.mock)
    if args.command == "serve":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from ._serve import run as serve_main

        return serve_main(args)
    if args.command == "queue":
        from ._queue_cli import run as queue_main

        return queue_main(args)
    if args.command == "batch":
        from ._batch_cli import run as batch_main

        return batch_main(args)
    if args.command == "prompts":
        from ._prompts_cli import run as prompts_main

        return prompts_main(args)
    if args.command == "bench":
        if rest:  # parse_known_args keeps mock-server's arguments; a typo here must not pass
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from .bench.cli import main as bench_main

        return bench_main(args)
    from .testing import main as mock_main

    return mock_main(rest)


if __name__ == "__main__":
    sys.exit(main())
