#!/usr/bin/env bash
# Regenerates docs/report-plan.png and docs/report-run.png: a plan and a run of the
# sample batch against the built-in simulator, rendered by headless Chromium.
# Needs Chromium (Debian: apt-get install chromium). Nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "no Chromium found: apt-get install chromium" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
bin=target/release/ct-onboard
# A user who already holds a part-time vacation balance, so the plan shows a guarded move.
cat > "$work/seed.yaml" <<YAML
$(sed -n '/^company:/,$p' samples/sandbox.yaml)
holdings:
  time_off:
    - { user_id: 9170357, policy_id: pol-vac-pt-001, balance: 12.5 }
  pay_rules:
    - { user_id: 9170358, policy_id: 12345, effective_date: 2026-01-01 }
YAML
export CT_ONBOARD_TODAY=2026-11-23
"$bin" plan samples/new-hires.csv --sandbox --seed "$work/seed.yaml" --report-dir "$work/plan" >/dev/null 2>&1 || true
"$bin" run samples/new-hires.csv --sandbox --no-progress --report-dir "$work/run" --allow-overwrite >/dev/null 2>&1 || true
shoot() {
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1280,1400 --screenshot="$2" "file://$(ls -d "$1"/*)/report.html" 2>/dev/null
}
shoot "$work/plan" docs/report-plan.png
shoot "$work/run" docs/report-run.png
echo "wrote docs/report-plan.png and docs/report-run.png"
