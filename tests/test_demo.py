import json
import subprocess
import sys


def test_quick_demo_runs_the_whole_pipeline(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hepgen", "--quiet", "demo", "--quick", "-o", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    report = tmp_path / "d" / "report" / "index.html"
    assert str(report) in r.stdout and report.exists()
    metrics = json.loads((tmp_path / "d" / "report" / "metrics.json").read_text())
    assert metrics["n_reference"] == 300 and metrics["n_generated"] == 300
    assert (tmp_path / "d" / "run-calo-cfm" / "config.yaml").exists()
    # a second run reuses every finished step and still reports
    r = subprocess.run([sys.executable, "-m", "hepgen", "--quiet", "demo", "--quick", "-o", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
