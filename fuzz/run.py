"""Fuzz the wire codec with atheris: `fuzz/run.py --seconds N [--asan] [--target cython|python]`.

The compiled twin is the target; every input also runs through the pure reference, and any
difference is a crash (`harness.py`). The reference is instrumented for coverage: the native
extension is built by gcc, which cannot give libFuzzer coverage, and the reference's branches are
the contract's branches, so its coverage steers the fuzzer through the same decisions.

The fuzzer runs in a child process so that this one can seed the corpus from the keepalived
captures, bound the wall-clock time, and report execs, coverage and crashes whatever happens.
Exit status: 0 when the run ended cleanly, non-zero on a crash, a hang (`-timeout`), or a mismatch.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "corpus" / "inputs"
CRASHES = HERE / "corpus" / "crashes"
SHIM = ROOT / "build" / "fuzz" / "sancov_forward.so"
MAX_LEN = 4400
"""Room for a v3/IPv6 message with 255 addresses plus the harness's own prefix."""


def seeds() -> list[bytes]:
    """Inputs for every selector, built from each advert of the captures, as captured and with
    each checksum repair flag (which keeps them valid while the fuzzer mutates them)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pcapfile import ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethernet, read_pcap

    found: set[bytes] = set()
    for capture in sorted((ROOT / "tests" / "data" / "pcaps").glob("*.pcap")):
        for frame in read_pcap(capture):
            eth = ethernet(frame.data)
            ip = eth.payload
            if eth.ethertype == ETHERTYPE_IPV4 and ip[9] == 112:
                message = ip[(ip[0] & 0x0F) * 4 :]
                framed = len(ip).to_bytes(2, "big") + ip
                found.add(bytes([0, 0]) + ip)
                found.add(bytes([2, 0]) + ip[12:20] + message)
                found.update(bytes([selector, table]) + framed * 2 for selector in (4, 5) for table in range(4))
            elif eth.ethertype == ETHERTYPE_IPV6 and ip[6] == 112:
                meta = ip[8:40] + ip[7:8]
                framed = meta + len(ip[40:]).to_bytes(2, "big") + ip[40:]
                found.add(bytes([1, 0]) + meta + ip[40:])
                found.add(bytes([3, 0]) + ip[8:40] + ip[40:])
                found.update(bytes([selector, table]) + framed * 2 for selector in (6, 7) for table in range(4))
    sys.path.insert(0, str(ROOT))
    from harness import MESSAGE_ONLY, REPAIR

    for flags in (REPAIR, REPAIR | MESSAGE_ONLY):
        found.update({bytes([data[0] | flags]) + data[1:] for data in found})
    return sorted(found)


def write_seeds() -> int:
    CORPUS.mkdir(parents=True, exist_ok=True)
    CRASHES.mkdir(parents=True, exist_ok=True)
    inputs = seeds()
    for data in inputs:
        (CORPUS / f"seed-{hashlib.sha1(data).hexdigest()}").write_bytes(data)
    return len(inputs)


def sanitizer_env() -> dict[str, str]:
    """What a gcc ASan build needs in a Python process.

    The ASan runtime preloaded, behind `sancov_forward.c` (which keeps libasan's no-op coverage
    hooks from blinding atheris); no leak report (the interpreter keeps its objects on purpose);
    and the system allocator, so that ASan's redzones surround the bytes objects the codec reads
    (pymalloc's arenas would hide an over-read).
    """
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True, check=True)
    SHIM.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", "-o", str(SHIM), str(HERE / "sancov_forward.c"), "-ldl"], check=True
    )
    core = importlib.util.find_spec("atheris.core_with_libfuzzer")
    if core is None or core.origin is None:
        raise SystemExit("fuzz: atheris has no core_with_libfuzzer module")
    return {
        "LD_PRELOAD": f"{SHIM} {libasan.stdout.strip()}",
        "FASTVRRP_ATHERIS_CORE": core.origin,
        "ASAN_OPTIONS": "detect_leaks=0:verify_asan_link_order=0:allocator_may_return_null=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "PYTHONMALLOC": "malloc",
    }


def load_extension(path: str | None) -> ModuleType:
    """The compiled twin: the in-place build, or the one at `path` (the sanitizer build, kept out
    of the source tree so that everyone else's imports keep the ordinary build meanwhile)."""
    if path is None:
        return importlib.import_module("fastvrrp._wire")
    spec = importlib.util.spec_from_file_location("fastvrrp._wire", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no extension module at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fastvrrp._wire"] = module
    spec.loader.exec_module(module)
    return module


def child(target: str, extension: str | None, libfuzzer_args: list[str]) -> None:
    import atheris

    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["fastvrrp"]):
        from fastvrrp import _wire_py

    import harness

    if target == "cython":
        twin, reference = load_extension(extension), _wire_py
    else:
        twin, reference = _wire_py, None

    def test_one_input(data: bytes) -> None:
        harness.check(data, twin, reference)

    atheris.Setup([sys.argv[0], *libfuzzer_args], test_one_input)
    atheris.Fuzz()


def summarise(log: str) -> dict[str, str]:
    """Execs, coverage and corpus from libFuzzer's last status line and final stats."""
    summary = {"execs": "?", "exec/s": "?", "cov": "?", "ft": "?", "corpus": "?"}
    status = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\S+)", log, re.MULTILINE)
    if status:
        summary["execs"], summary["cov"], summary["ft"], summary["corpus"] = status[-1]
    for key, stat in (("execs", "number_of_executed_units"), ("exec/s", "average_exec_per_sec")):
        found = re.search(rf"stat::{stat}:\s+(\d+)", log)
        if found:
            summary[key] = found.group(1)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300, help="fuzzing time (default 300)")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take before it is a hang")
    parser.add_argument("--target", choices=("cython", "python"), default="cython")
    parser.add_argument("--asan", action="store_true", help="the extension was built with FASTVRRP_ASAN=1")
    parser.add_argument("--extension", help="path of the compiled twin to load instead of fastvrrp._wire")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, libfuzzer_args = parser.parse_known_args()
    if args.child:
        child(args.target, args.extension, libfuzzer_args)
        return 0

    print(f"fuzz: {write_seeds()} seed inputs from the captures in {CORPUS.relative_to(ROOT)}", flush=True)
    before = set(CRASHES.iterdir())
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if args.asan:
        env.update(sanitizer_env())
    command = [sys.executable, str(HERE / "run.py"), "--child", "--target", args.target, str(CORPUS)]
    if args.extension:
        command += ["--extension", str(Path(args.extension).resolve())]
    command += [
        f"-max_total_time={args.seconds}",
        f"-timeout={args.timeout}",
        f"-max_len={MAX_LEN}",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-artifact_prefix={CRASHES}/",
    ]
    log = []
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, errors="replace") as proc:
        for line in proc.stderr:
            sys.stderr.write(line)
            log.append(line)
        try:
            status = proc.wait(timeout=args.seconds + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = -9
    found = sorted(set(CRASHES.iterdir()) - before)
    s = summarise("".join(log))
    print(
        f"fuzz: target={args.target} asan={args.asan} seconds={args.seconds} execs={s['execs']} "
        f"exec/s={s['exec/s']} cov={s['cov']} ft={s['ft']} corpus={s['corpus']} "
        f"crashes={len(found)} exit={status}",
        flush=True,
    )
    for path in found:
        print(f"fuzz: reproducer {path.relative_to(ROOT)}", flush=True)
    if not s["cov"].isdigit() or int(s["cov"]) == 0:
        print("fuzz: no coverage was recorded: the fuzzer ran blind", flush=True)
        return 1
    return 0 if status == 0 and not found else 1


if __name__ == "__main__":
    sys.exit(main())
