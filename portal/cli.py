"""``portal``: serve the portal with gunicorn and the repository's ``gunicorn.conf.py``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def main(argv: list[str] | None = None) -> None:
    """Parse ``--bind/--workers/--index/--data`` into the environment and exec gunicorn."""
    ap = argparse.ArgumentParser(prog="portal", description="对照 portal (gunicorn)")
    ap.add_argument("--bind", help="address, default 127.0.0.1:8000 ($DUIZHAO_BIND)")
    ap.add_argument("--workers", type=int, help="worker processes ($DUIZHAO_WORKERS)")
    ap.add_argument("--index", help="index folder ($DUIZHAO_INDEX)")
    ap.add_argument("--data", help="data folder ($DUIZHAO_DATA)")
    args = ap.parse_args(argv)
    given = {"BIND": args.bind, "WORKERS": args.workers, "INDEX": args.index, "DATA": args.data}
    for key, value in given.items():
        if value:
            os.environ[f"DUIZHAO_{key}"] = str(value)
    bind = os.environ.get("DUIZHAO_BIND", "127.0.0.1:8000")
    print(f"对照 portal: 打开 http://{bind}/", file=sys.stderr, flush=True)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    os.execv(gunicorn, [str(gunicorn), "-c", str(CONFIG), "portal:create_app()"])


if __name__ == "__main__":
    main()
