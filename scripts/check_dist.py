"""Checks what `make dist` left in dist/ before anything is uploaded.

    python scripts/check_dist.py [dist]

- one sdist and at least one wheel, each carrying the licence file;
- every Linux wheel's platform tag is what `auditwheel show` reports its symbols satisfy: the file
  name claims no older glibc (or musl) than the binary needs, which is what PyPI and pip trust;
- a glibc wheel's extension unwinds with the system's libgcc_s, as glibc's pthread_exit does (a
  private copy of an unwinder, which zig links in by default, crashed interpreter exits);
- the size of each file, for the release note.

`twine check --strict` (metadata, README rendering) runs beside it in `make dist`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# auditwheel show: ... is consistent with the following platform tag: "manylinux_2_17_x86_64".
REPORTED = re.compile(r'following platform tag:\s*"([^"]+)"')
# PEP 600's legacy aliases, as the file name may carry them beside the PEP 600 tag.
LEGACY = {"manylinux1": "manylinux_2_5", "manylinux2010": "manylinux_2_12", "manylinux2014": "manylinux_2_17"}


def platform_tags(wheel: Path) -> set[str]:
    """The platform tags of a wheel's file name, legacy aliases spelled as PEP 600 ones."""
    platform = wheel.name.removesuffix(".whl").split("-")[-1]
    tags = set()
    for tag in platform.split("."):
        for old, new in LEGACY.items():
            if tag.startswith(old + "_"):
                tag = new + tag[len(old):]
        tags.add(tag)
    return tags


def glibc_or_musl(tag: str) -> tuple[str, int, int]:
    """('manylinux', 2, 17) from manylinux_2_17_x86_64."""
    match = re.match(r"(manylinux|musllinux)_(\d+)_(\d+)_", tag)
    if not match:
        raise SystemExit(f"not a manylinux or musllinux tag: {tag}")
    return match[1], int(match[2]), int(match[3])


def check_linux_wheel(wheel: Path) -> str:
    shown = subprocess.run(["auditwheel", "show", str(wheel)], capture_output=True, text=True, check=True).stdout
    reported = REPORTED.search(" ".join(shown.split()))
    if not reported:
        raise SystemExit(f"{wheel.name}: auditwheel reports no platform tag:\n{shown}")
    claimed = platform_tags(wheel)
    if reported[1] not in claimed:
        raise SystemExit(f"{wheel.name}: auditwheel says {reported[1]}, the file name claims {sorted(claimed)}")
    needed = glibc_or_musl(reported[1])
    for tag in claimed:
        if glibc_or_musl(tag) < needed:
            raise SystemExit(f"{wheel.name}: claims {tag}, but its symbols need {reported[1]}")
    return reported[1]


def check_unwinder(wheel: Path) -> None:
    """CPython ends a daemon thread at interpreter exit with pthread_exit, which unwinds it with
    libgcc_s: through Rust frames, whose personality routine must call that same unwinder."""
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        for name in (n for n in zf.namelist() if n.endswith(".so")):
            extension = zf.extract(name, tmp)
            dynamic = subprocess.run(["readelf", "-d", extension], capture_output=True, text=True, check=True)
            if "[libgcc_s.so.1]" not in dynamic.stdout:
                raise SystemExit(f"{wheel.name}: {name} does not link libgcc_s.so.1 (an unwinder of its own?)")


def main() -> None:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    if len(sdists) != 1 or not wheels:
        raise SystemExit(f"{dist}: want one sdist and wheels, found {[p.name for p in (*sdists, *wheels)]}")
    with tarfile.open(sdists[0]) as tar:
        top = sdists[0].name.removesuffix(".tar.gz")
        if f"{top}/LICENSE" not in tar.getnames():
            raise SystemExit(f"{sdists[0].name}: no LICENSE")
    print(f"{sdists[0].name}  {sdists[0].stat().st_size / 1e6:.1f} MB")
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            if not any(re.fullmatch(r"[^/]+\.dist-info/licenses/LICENSE", n) for n in zf.namelist()):
                raise SystemExit(f"{wheel.name}: no .dist-info/licenses/LICENSE")
        audited = check_linux_wheel(wheel) if "linux" in wheel.name else "not a Linux wheel"
        if "manylinux" in wheel.name:
            check_unwinder(wheel)
        print(f"{wheel.name}  {wheel.stat().st_size / 1e6:.1f} MB  auditwheel: {audited}")


if __name__ == "__main__":
    main()
