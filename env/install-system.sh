#!/usr/bin/env bash
# Debian/Ubuntu packages the harness needs (Tesseract, the generator's fonts, and pdflatex with
# booktabs, with which the tests compile every LaTeX table a report writes).
# Installs only what is missing; needs root or sudo for that.
set -euo pipefail
here=$(dirname "$0")
missing=()
while read -r pkg; do
  [ -z "$pkg" ] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < "$here/system-packages.txt"
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
