"""``genlab serve RUN [RUN ...]``: the REST API and the web playground (the ``serve`` extra)."""

from __future__ import annotations

import dataclasses
import sys

from ...errors import ConfigError


def add_parser(sub) -> None:
    from ..limits import Limits

    s = sub.add_parser("serve", help="serve trained models: a REST API (OpenAPI at /docs) and a playground at /")
    s.add_argument("runs", nargs="+", metavar="RUN", help="run folders or saved-model folders, each loaded once")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--token", help="require this token on every request (default: $GENLAB_SERVE_TOKEN, else none); "
                                   "an empty token is refused")
    s.add_argument("--allow-host", action="append", metavar="NAME", default=[],
                   help="a further host name the server answers to (repeatable; it always answers to localhost, "
                        "127.0.0.1, ::1 and --host): the Host check stops DNS rebinding")
    s.add_argument("--keep-uploads", action="store_true",
                   help="keep uploaded pictures in the request's folder (never served to clients); default: removed")
    s.add_argument("--store", help="folder for generated files (default: RUN/served)")
    s.add_argument("--registry", help="registry of samples to record generated files in "
                   "(default: $GENLAB_REGISTRY, else runs/registry.sqlite3)")
    s.add_argument("--features", help="feature network that scores batches asked to be scored (default features/DATA)")
    s.add_argument("--weights", default="best", help="best (by validation, if kept) or last")
    s.add_argument("--device", help="device to run on (default cpu)")
    defaults = Limits()
    for f in dataclasses.fields(Limits):
        kind = type(getattr(defaults, f.name))
        s.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=getattr(defaults, f.name),
                       help=f"limit (default {getattr(defaults, f.name)})")
    s.set_defaults(func=run)


def run(args, extra) -> int:
    from ..limits import Limits

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be in 1..65535, got {args.port}")
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("genlab serve needs the 'serve' extra: pip install 'genlab[serve]'") from None
    from ..server import create_app, default_token

    limits = Limits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)})
    if args.token is not None and not args.token.strip():
        raise ConfigError("--token is empty (an unset variable in --token \"$SECRET\"?); give a token, or leave "
                          "--token out to serve without one")
    token = args.token or default_token()
    app = create_app(args.runs, limits=limits, token=token, store=args.store, registry=args.registry,
                     weights=args.weights, device=args.device, features=args.features,
                     hosts=served_hosts(args.host, args.allow_host), keep_uploads=args.keep_uploads)
    sock = bind(args.host, args.port)  # before anything is printed: a busy port is an error, not an address
    address = f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}/"
    names = ", ".join(app.state.served)
    print(f"genlab serve: {names}", file=sys.stderr)
    print(f"playground: {address}{'?token=' + token if token else ''}", file=sys.stderr)
    print(f"API docs:   {address}docs", file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not token:
        print("genlab serve: warning: listening beyond this machine without a token (--token)", file=sys.stderr)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
    return 0


def served_hosts(host: str, allowed: list[str]) -> list[str]:
    """The host names the server answers to: loopback, the address it listens on and ``--allow-host``;
    listening on every address (0.0.0.0, ::) adds this machine's own name and addresses."""
    import socket

    names = ["localhost", "127.0.0.1", "::1", *allowed]
    if host in ("0.0.0.0", "::", ""):
        name = socket.gethostname()
        names += [name, socket.getfqdn()]
        try:
            names += [info[4][0] for info in socket.getaddrinfo(name, None)]
        except OSError:
            pass
    else:
        names.append(host)
    return names


def bind(host: str, port: int):
    """A listening socket on ``host:port``; a one-line error when the port is taken or the address is not ours."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e}); is another server there? choose "
                          "another --port") from None
    sock.set_inheritable(True)
    return sock
