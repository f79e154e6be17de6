"""callrec init, callrec pin set."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from console.commands.common import add_pin, load_config, read_pin, with_workspace
from console.i18n import t
from services.access import Action, Role, identity
from services.core import ConfigError, PinError, visible
from services.core import config as config_mod
from services.workspace import Workspace


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="write the configuration and create the database")
    p.add_argument("--spool", required=True, type=Path, help="the recorder's spool folder")
    p.add_argument("--data", required=True, type=Path, help="folder for database, keys, exports")
    p.add_argument("--layout", choices=config_mod.LAYOUTS, default="freepbx")
    p.add_argument("--pattern", help="regular expression with named groups (layout = pattern)")
    p.add_argument("--language", choices=config_mod.LANGUAGES, default="ja")
    p.add_argument("--force", action="store_true", help="overwrite an existing configuration")
    p.set_defaults(func=init)

    pin = sub.add_parser("pin", help="role PINs").add_subparsers(dest="pin_cmd", required=True)
    s = pin.add_parser("set", help="set or change a role's PIN")
    s.add_argument("role", choices=[r.value for r in Role])
    s.add_argument(
        "--reset",
        action="store_true",
        help="replace a forgotten PIN without the current one (recorded in the audit log)",
    )
    add_pin(s)
    s.set_defaults(func=with_workspace(pin_set))


def init(args: argparse.Namespace) -> int:
    path = config_mod.resolve_path(args.config)
    if path.exists() and not args.force:
        raise ConfigError(
            f"{path}: a configuration exists already (use --force to replace it)",
            code="config_exists",
            path=str(path),
        )
    cfg = config_mod.Config(
        spool=args.spool.resolve(),
        data=args.data.resolve(),
        layout=args.layout,
        pattern=args.pattern,
        language=args.language,
    )
    config_mod.parse(_as_doc(cfg), path)  # validate exactly as a load would
    identity.peek(cfg.database, create=True)  # an emptied or foreign database: refused, nothing written
    config_mod.write(cfg, path)

    async def create() -> None:
        ws = await Workspace.open(config_mod.load(path), create=True)
        try:
            await ws.audit.record(
                at=ws.clock.now(),
                actor="system",
                action=Action.CONFIG_WRITTEN,
                subject=str(path),
                detail={"spool": str(cfg.spool), "data": str(cfg.data)},
            )
        finally:
            await ws.close()

    asyncio.run(create())
    print(t("cli.setup.configuration", path=visible(str(path))))
    print(t("cli.setup.database", path=visible(str(cfg.database))))
    print(t("cli.setup.next"))
    return 0


def _as_doc(cfg: config_mod.Config) -> dict[str, object]:
    import tomllib

    return tomllib.loads(config_mod.to_toml(cfg))


async def pin_set(args: argparse.Namespace, ws: Workspace) -> int:
    role = Role(args.role)
    if await ws.auth.is_set(role) and not args.reset:
        await ws.auth.verify(role, read_pin(args, role, "cli.pin_current"))
    new = read_pin(args, role, "cli.pin_new")
    if not args.pin_stdin and read_pin(args, role, "cli.pin_again") != new:
        raise PinError("the two PINs differ", code="pin_mismatch")
    await ws.auth.set_pin(role, new, by="cli", reset=args.reset)
    print(t("cli.setup.pin_set", role=role.value, role_name=t(f"role.{role.value}")))
    return 0


__all__ = ["load_config", "register"]
