"""``portal``: serve the portal with gunicorn, or manage accounts (``portal user …``, ``portal token …``).

``portal [--bind …] [--workers N] [--index DIR] [--data DIR]`` execs gunicorn with the shipped
``gunicorn.conf.py`` (the installed wheel's copy, else the repository's); ``portal [--data DIR] user
add NAME --role admin|inspector`` and the other ``user``/``token`` commands run the Flask CLI
commands of ``portal.commands`` on the same app.
"""

from __future__ import annotations

import os
import sys

from indexer.cli_text import ChineseParser

ACCOUNT_COMMANDS = ("user", "token")


def accounts(argv: list[str]) -> None:
    """Run ``user …``/``token …`` against the app of the current settings."""
    from flask.cli import ScriptInfo

    from . import create_app

    app = create_app()
    app.cli.main(args=argv, prog_name="portal", obj=ScriptInfo(create_app=lambda: app))


def main(argv: list[str] | None = None) -> None:
    """Parse ``--bind/--workers/--index/--data`` into the environment, then serve or manage accounts."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = ChineseParser(prog="portal",
                       description="对照：启动门户网站；或管理账号：portal user … / portal token …")
    ap.add_argument("--bind", metavar="地址:端口",
                    help="监听地址，默认 127.0.0.1:8000，也可用环境变量 DUIZHAO_BIND 设置")
    ap.add_argument("--workers", type=int, metavar="N",
                    help="工作进程数，也可用环境变量 DUIZHAO_WORKERS 设置")
    ap.add_argument("--index", metavar="文件夹", help="索引文件夹，也可用环境变量 DUIZHAO_INDEX 设置")
    ap.add_argument("--data", metavar="文件夹",
                    help="数据文件夹，存账号、审计日志、上传，也可用环境变量 DUIZHAO_DATA 设置")
    split = next((i for i, a in enumerate(argv) if a in ACCOUNT_COMMANDS), len(argv))
    args = ap.parse_args(argv[:split])
    given = {"BIND": args.bind, "WORKERS": args.workers, "INDEX": args.index, "DATA": args.data}
    for key, value in given.items():
        if value:
            os.environ[f"DUIZHAO_{key}"] = str(value)
    if split < len(argv):
        accounts(argv[split:])
        return
    bind = os.environ.get("DUIZHAO_BIND", "127.0.0.1:8000")
    print(f"对照：在浏览器中打开 http://{bind}/ ，按 Ctrl-C 停止。", file=sys.stderr, flush=True)
    from . import shipped

    config = shipped("gunicorn.conf.py")  # the wheel's copy, else the checkout's
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "-c", str(config), "portal:create_app()"])


if __name__ == "__main__":
    main()
