"""The README's main job: ``moeids demo`` on the bundled real sample."""

import re

from moeids.cli import main


def test_demo_trains_evaluates_and_explains(capsys, tmp_path):
    assert main(["demo", "--draws", "1", "--verbose", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for section in (
        "== Detection on held-out flows ==",
        "== Which expert the gate trusted, per traffic type ==",
        "== With features missing from the sensor export ==",
        "== Explanation of five held-out flows",
    ):
        assert section in out
    f1 = float(re.search(r"^F1\s+([0-9.]+)$", out, re.MULTILINE).group(1))
    assert f1 > 0.98
    assert "DoS Hulk" in out and "Benign" in out  # gate report rows per traffic type
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo_gating_by_attack_type.png",
        "demo_gating_distribution.png",
    ]
