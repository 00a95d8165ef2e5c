"""A stand-in for the npm CLI, serving `view` and `pack` from $FAKE_NPM_DIR.

$FAKE_NPM_DIR holds `versions.json`, tarballs named `openclaw-<v>.tgz`, and optionally
`integrity-<v>` to make `npm view` and `npm pack` report a different integrity than the
tarball's, and `pack-reports-no-integrity` to have `npm pack` report none (older npm).
"""

import base64
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

root = Path(os.environ["FAKE_NPM_DIR"])
args = sys.argv[1:]
with (root / "calls.log").open("a") as log:
    log.write(" ".join(args) + "\n")


def integrity(version: str) -> str:
    override = root / f"integrity-{version}"
    if override.exists():
        return override.read_text().strip()
    digest = hashlib.sha512((root / f"openclaw-{version}.tgz").read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


if args[:3] == ["view", "openclaw", "versions"]:
    print((root / "versions.json").read_text())
elif args[0] == "view" and args[2] == "dist.integrity":
    version = args[1].split("@", 1)[1]
    if not (root / f"openclaw-{version}.tgz").exists():
        print("npm error code E404", file=sys.stderr)
        print(f"npm error 404 No match found for version {version}", file=sys.stderr)
        print("npm error A complete log of this run can be found in: /tmp/x.log", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(integrity(version)))
elif args[0] == "pack":
    specs = [a for a in args[1 : args.index("--json")]]
    packed = []
    for spec in specs:
        version = spec.split("@", 1)[1]
        name = f"openclaw-{version}.tgz"
        if not (root / name).exists():
            print("npm error code ETARGET", file=sys.stderr)
            print(f"npm error notarget No matching version found for {spec}.", file=sys.stderr)
            sys.exit(1)
        shutil.copy(root / name, Path.cwd() / name)
        packed.append({"filename": name, "version": version, "integrity": integrity(version)})
        if (root / "pack-reports-no-integrity").exists():
            del packed[-1]["integrity"]
    print(json.dumps(packed))
else:
    print(f"npm ERR! fake npm does not know {args}", file=sys.stderr)
    sys.exit(1)
